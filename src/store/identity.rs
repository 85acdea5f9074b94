//! A series' identity: what it is (its source, table, measure, keys and the selectors that
//! choose its rows), as opposed to its id, which is only a name the config gives it. The
//! `identities` tree maps each identity to the id its records are stored under, so that a
//! configured id the store holds nothing for can be found under the id it had before (the
//! user renamed it, or the group's id template): the poll then moves the records to the new
//! id in its own commit ([`Rename`], written ahead with the rest, see `ahead`), and names the
//! series' release log entries by the new id. Alerts keep the id they were sent with.
//!
//! Every commit indexes the series it polled ([`PollWrite::identities`]). A store written
//! before the index existed is indexed once ([`Store::index_identities`], from the config in
//! effect then); the `meta` key `identities_indexed` says it was. The tree is an addition
//! to schema 2: a statwatch that does not know it leaves it alone.
//!
//! [`PollWrite::identities`]: super::PollWrite::identities

use super::codec::varint;
use super::Tree;
use super::{Store, StoreError};

/// The `meta` key set once every stored series the config named was indexed.
const INDEXED: &str = "identities_indexed";

/// A series' identity as the index key: its parts, each length-prefixed (so no key or title
/// can make two identities equal).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity(Vec<u8>);

impl Identity {
    /// The identity made of `parts`, in order (the caller names each part, see
    /// `pipeline::identity`).
    pub fn new<'a>(parts: impl IntoIterator<Item = &'a str>) -> Identity {
        let mut key = Vec::new();
        for p in parts {
            varint(&mut key, p.len() as u64);
            key.extend_from_slice(p.as_bytes());
        }
        Identity(key)
    }

    pub(super) fn key(&self) -> &[u8] {
        &self.0
    }
}

/// A series' records moved from `from` to `to` in a poll's commit: the config renamed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    pub from: String,
    pub to: String,
}

impl Store {
    /// The id the records of `identity` are stored under, as far as the index knows (the
    /// id may hold nothing any more: a caller checks with [`Store::holds`]).
    pub fn identity_owner(&self, identity: &Identity) -> Result<Option<String>, StoreError> {
        let owner = self.committed().get(Tree::Identities, identity.key())?;
        Ok(owner.map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    /// Whether the series stored before the index existed were indexed.
    pub fn identities_indexed(&self) -> Result<bool, StoreError> {
        Ok(self.meta.contains_key(INDEXED)?)
    }

    /// Indexes stored series (those whose identity is not indexed yet) and records that the
    /// store is indexed. Outside a poll's commit: an index entry alone changes no data.
    pub fn index_identities(&self, rows: &[(Identity, String)]) -> Result<usize, StoreError> {
        let mut added = 0;
        for (identity, id) in rows {
            if self.identities.get(identity.key())?.is_none() {
                self.identities.insert(identity.key(), id.as_bytes())?;
                added += 1;
            }
        }
        self.meta.insert(INDEXED, "1")?;
        self.db.flush()?;
        Ok(added)
    }
}
