//! What a series id, a key and a name may contain, checked where they enter: the config
//! (ids, pinned and listed keys, dimension, source, table and receiver names) and the keys a
//! source lists for a group, with the ids a group's template makes from them.
//!
//! The store names its records by these strings (see `store`'s key layout): a derived
//! series' raw levels are the record `ID#level`, and the stamps and the outbox join two
//! names with NUL (`source \0 table`, `receiver \0 alert id`). So `#` is reserved in ids and
//! keys (a key `X#level` would name the levels of the series of key `X`), and no control
//! character enters any of them (NUL would join names ambiguously, and a newline from a
//! source would forge a log line).

/// The longest series id: a config id or a group's id with its keys in. Ids are looked up
/// on the pages and through the control socket, so an id from a client is refused past this
/// before any work is done.
pub const MAX_ID_BYTES: usize = 512;

/// The character the store puts between a series id and the name of one of its records.
pub const RESERVED: char = '#';

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("must not be empty")]
    Empty,
    #[error("must not contain '{RESERVED}' (the store keeps a derived series' levels as ID{RESERVED}level)")]
    Reserved,
    #[error("must not contain the control character {0:?}")]
    Control(char),
    #[error("is {0} bytes long; at most {MAX_ID_BYTES}")]
    TooLong(usize),
}

/// The store's record of the raw levels of derived series `id`.
pub fn level_id(id: &str) -> String {
    format!("{id}{RESERVED}level")
}

/// Whether a stored id names a record of another series (its levels), not a series.
pub fn is_level_id(id: &str) -> bool {
    id.contains(RESERVED)
}

/// A name that joins other names in a store key or is written to the log: source, table,
/// receiver and dimension names.
pub fn check_name(name: &str) -> Result<(), IdentError> {
    if name.trim().is_empty() {
        return Err(IdentError::Empty);
    }
    match name.chars().find(|c| c.is_control()) {
        Some(c) => Err(IdentError::Control(c)),
        None => Ok(()),
    }
}

/// A dimension key or measure (trimmed): it becomes part of a series id.
pub fn check_key(key: &str) -> Result<(), IdentError> {
    check_name(key)?;
    if key.contains(RESERVED) {
        return Err(IdentError::Reserved);
    }
    Ok(())
}

/// A series id (a config id, a group's id template, or an id a template made).
pub fn check_id(id: &str) -> Result<(), IdentError> {
    if id.len() > MAX_ID_BYTES {
        return Err(IdentError::TooLong(id.len()));
    }
    check_key(id)
}

/// The first two of `keys` that are the same key once trimmed (`"A"` and `"A "`): a config,
/// an id and the source's rows all name keys trimmed, so the two cannot be told apart.
pub fn same_when_trimmed<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> Option<(&'a str, &'a str)> {
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for k in keys {
        if let Some(first) = seen.insert(k.trim(), k) {
            return Some((first, k));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_control_characters_are_refused() {
        assert_eq!(check_key("307500"), Ok(()));
        assert_eq!(check_key("X#level"), Err(IdentError::Reserved));
        assert_eq!(check_key("X\nERROR forged"), Err(IdentError::Control('\n')));
        assert_eq!(check_name("a\0b"), Err(IdentError::Control('\0')));
        assert_eq!(check_key("  "), Err(IdentError::Empty));
        assert_eq!(check_name("has#hash"), Ok(()));
        let long = "x".repeat(MAX_ID_BYTES + 1);
        assert_eq!(check_id(&long), Err(IdentError::TooLong(MAX_ID_BYTES + 1)));
        assert_eq!(check_id(&long[1..]), Ok(()));
    }

    #[test]
    fn keys_equal_once_trimmed_are_found() {
        assert_eq!(same_when_trimmed(["A", "B", "A "]), Some(("A", "A ")));
        assert_eq!(same_when_trimmed(["A", "B"]), None);
    }
}
