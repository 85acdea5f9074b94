//! Values from outside the file: `${NAME}` and `${NAME:-fallback}` from the environment,
//! secrets read from `*_file` twins, and [`Secret`], which never prints its value.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("unterminated ${{...}} reference")]
    Unterminated,
    // Not echoed: the text around a reference may be part of a secret.
    #[error("invalid environment reference (names are letters, digits and _)")]
    InvalidName,
    #[error("environment variable {name} is not set")]
    NotSet { name: String },
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

/// A secret value: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A URL that is itself a secret (a chat service's incoming-webhook URL carries its token in
/// the path): `Debug` and `Display` show the origin only, so no log line, error or `check`
/// output can leak it by accident; [`SecretUrl::expose`] is for the request alone.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(url::Url);

impl SecretUrl {
    pub fn new(url: url::Url) -> Self {
        SecretUrl(url)
    }
    pub fn expose(&self) -> &url::Url {
        &self.0
    }
    /// Scheme, host and port, and `/...` when there is a path: what may be shown.
    pub fn origin(&self) -> String {
        let path = if self.0.path().trim_matches('/').is_empty() {
            ""
        } else {
            "/..."
        };
        format!("{}{path}", self.0.origin().ascii_serialization())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.origin())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

/// Expands `${NAME}` from the environment; `${NAME:-fallback}` uses the fallback when NAME
/// is unset or empty (so a shipped config can run before its secrets are provisioned).
pub(crate) fn expand_env(s: &str) -> Result<String, EnvError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(EnvError::Unterminated)?;
        let (name, fallback) = match after[..end].split_once(":-") {
            Some((n, f)) => (n, Some(f)),
            None => (&after[..end], None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(EnvError::InvalidName);
        }
        match (std::env::var(name).ok().filter(|v| !v.is_empty()), fallback) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(f)) => out.push_str(f),
            (None, None) => {
                return Err(EnvError::NotSet {
                    name: name.to_string(),
                })
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A secret kept in a file (a systemd credential): its text without the final line break.
pub(crate) fn read_secret_file(file: &str) -> Result<Secret, EnvError> {
    let text = std::fs::read_to_string(file).map_err(|source| EnvError::Read {
        file: file.to_string(),
        source,
    })?;
    Ok(Secret(text.trim_end_matches(['\r', '\n']).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_with_fallbacks() {
        std::env::set_var("STATWATCH_ENV_TEST_A", "a1");
        assert_eq!(expand_env("x${STATWATCH_ENV_TEST_A}y").unwrap(), "xa1y");
        assert_eq!(
            expand_env("${STATWATCH_ENV_TEST_UNSET:-dev}").unwrap(),
            "dev"
        );
        assert_eq!(expand_env("${STATWATCH_ENV_TEST_UNSET:-}").unwrap(), "");
        assert_eq!(
            expand_env("${STATWATCH_ENV_TEST_UNSET}")
                .unwrap_err()
                .to_string(),
            "environment variable STATWATCH_ENV_TEST_UNSET is not set"
        );
        assert!(matches!(expand_env("${a-b}"), Err(EnvError::InvalidName)));
        assert!(matches!(expand_env("${abc"), Err(EnvError::Unterminated)));
    }

    #[test]
    fn secret_urls_show_their_origin_only() {
        let u =
            SecretUrl::new(url::Url::parse("https://hooks.slack.com/services/T0/B0/XXXX").unwrap());
        assert_eq!(u.to_string(), "https://hooks.slack.com/...");
        assert!(!format!("{u:?}").contains("XXXX"));
        assert!(u.expose().as_str().ends_with("XXXX"));
    }

    #[test]
    fn secret_files_lose_their_line_break_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\r\n").unwrap();
        let s = read_secret_file(path.to_str().unwrap()).unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
    }
}
