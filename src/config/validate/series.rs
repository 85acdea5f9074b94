//! `[[series]]`: the source and table, the measure and dimensions (one key, `"*"` or a list
//! of keys), and for a group the id and title templates, checked so that no two entries
//! can produce the same series id.

use std::collections::BTreeMap;

use super::super::group::{Group, Keys, Template, MEASURE};
use super::super::ident::{check_id, check_key, check_name, same_when_trimmed};
use super::super::locate::Seg;
use super::super::raw::{RawKeys, RawSeries};
use super::super::{ConfigError, SeriesConfig, SourceConfig, SourceKind};
use super::Validator;

/// A measure or dimension as validated: pinned to one key, or open / listed.
enum Sel {
    One(String),
    Group(Keys),
}

fn sel(raw: &RawKeys) -> Result<Sel, String> {
    let key = |k: &str| check_key(k.trim()).map_err(|e| format!("key {k:?} {e}"));
    match raw {
        RawKeys::One(k) if k.trim() == "*" => Ok(Sel::Group(Keys::All)),
        RawKeys::One(k) if k.trim().is_empty() => Err("a key must not be empty".into()),
        RawKeys::One(k) => key(k).map(|()| Sel::One(k.trim().to_string())),
        RawKeys::List(l) if l.is_empty() => Err("a list of keys must not be empty".into()),
        RawKeys::List(l) if l.iter().any(|k| k.trim().is_empty() || k.trim() == "*") => {
            Err("listed keys must be keys (not empty, not \"*\")".into())
        }
        RawKeys::List(l) => {
            l.iter().try_for_each(|k| key(k))?;
            if let Some((a, b)) = same_when_trimmed(l.iter().map(String::as_str)) {
                return Err(format!(
                    "listed keys {a:?} and {b:?} are the same key once trimmed: list it once"
                ));
            }
            Ok(Sel::Group(Keys::List(
                l.iter().map(|k| k.trim().to_string()).collect(),
            )))
        }
    }
}

impl Validator<'_, '_> {
    pub(super) fn series(
        &self,
        i: usize,
        s: &RawSeries,
        earlier: &[SeriesConfig],
        sources: &BTreeMap<String, SourceConfig>,
        warnings: &mut Vec<String>,
    ) -> Result<SeriesConfig, ConfigError> {
        let loc = self.loc;
        let at = |k: &'static str| [Seg::Key("series"), Seg::Index(i), Seg::Key(k)];
        self.names(i, s)?;
        let Some(src) = sources.get(&s.source) else {
            let known = if sources.is_empty() {
                "none".to_string()
            } else {
                sources.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            return Err(loc.error(
                &at("source"),
                format!("unknown source {:?} (configured: {known})", s.source),
            ));
        };
        let (measure, open_measure) =
            match sel(&s.measure).map_err(|m| loc.error(&at("measure"), m))? {
                Sel::One(m) => (m, None),
                Sel::Group(k) => (String::new(), Some(k)),
            };
        let mut dimensions = BTreeMap::new();
        let mut open = BTreeMap::new();
        for (d, raw) in &s.dimensions {
            let here = [
                Seg::Key("series"),
                Seg::Index(i),
                Seg::Key("dimensions"),
                Seg::Key(d),
            ];
            check_name(d).map_err(|e| loc.error(&here, format!("dimension {d:?} {e}")))?;
            match sel(raw).map_err(|m| loc.error(&here, m))? {
                Sel::One(k) => {
                    dimensions.insert(d.trim().to_string(), k);
                }
                Sel::Group(k) => {
                    open.insert(d.trim().to_string(), k);
                }
            }
        }
        if src.kind == SourceKind::Destatis && s.unit.is_none() {
            warnings.push(format!(
                "series {}: no unit set; Destatis publishes some measures in several units, \
                 and a table that does will be rejected until `unit` picks one",
                s.id
            ));
        }
        let group = if open.is_empty() && open_measure.is_none() {
            None
        } else {
            Some(self.group(i, s, open, open_measure)?)
        };
        let built = SeriesConfig {
            id: s.id.clone(),
            source: s.source.clone(),
            table: s.table.trim().to_string(),
            measure,
            dimensions,
            title: s.title.clone().unwrap_or_else(|| s.id.clone()),
            unit: s.unit.clone().unwrap_or_default(),
            derive: s.derive,
            frequency: s.frequency,
            group,
            template: None,
        };
        self.no_collision(i, &built, earlier)?;
        Ok(built)
    }

    /// The id, the table and the dimension names: they name store records (see
    /// [`super::super::ident`]), and dimensions are named trimmed.
    fn names(&self, i: usize, s: &RawSeries) -> Result<(), ConfigError> {
        let at = |k: &'static str| [Seg::Key("series"), Seg::Index(i), Seg::Key(k)];
        let fail = |k: &'static str, m: String| self.loc.error(&at(k), m);
        check_id(&s.id).map_err(|e| fail("id", format!("the series id {e}")))?;
        check_name(&s.table).map_err(|e| fail("table", format!("table {e}")))?;
        if let Some((a, b)) = same_when_trimmed(s.dimensions.keys().map(String::as_str)) {
            return Err(fail(
                "dimensions",
                format!("dimensions {a:?} and {b:?} are the same dimension once trimmed"),
            ));
        }
        Ok(())
    }

    /// The templates of a group: placeholders name its open or listed selectors, and the id
    /// has the key of each, so every expanded series gets its own id.
    fn group(
        &self,
        i: usize,
        s: &RawSeries,
        dims: BTreeMap<String, Keys>,
        measure: Option<Keys>,
    ) -> Result<Group, ConfigError> {
        let at = |k: &'static str| [Seg::Key("series"), Seg::Index(i), Seg::Key(k)];
        let mut names: Vec<&str> = dims.keys().map(String::as_str).collect();
        if measure.is_some() {
            names.push(MEASURE);
        }
        let id =
            Template::parse(&s.id, &names).map_err(|e| self.loc.error(&at("id"), e.to_string()))?;
        if let Some(missing) = names.iter().find(|n| !id.has_key(n)) {
            return Err(self.loc.error(
                &at("id"),
                format!(
                    "{:?} leaves {missing} open: the id must contain {{{missing}}}, or every \
                     expanded series would get the same id",
                    s.id
                ),
            ));
        }
        let title = Template::parse(s.title.as_deref().unwrap_or(&s.id), &names)
            .map_err(|e| self.loc.error(&at("title"), e.to_string()))?;
        Ok(Group {
            dims,
            measure,
            id,
            title,
        })
    }

    /// Refuses an entry that can produce an id an earlier one can produce too.
    fn no_collision(
        &self,
        i: usize,
        s: &SeriesConfig,
        earlier: &[SeriesConfig],
    ) -> Result<(), ConfigError> {
        let at = [Seg::Key("series"), Seg::Index(i), Seg::Key("id")];
        let mine = s.patterns();
        for (j, o) in earlier.iter().enumerate() {
            if s.group.is_none() && o.group.is_none() {
                if o.id == s.id {
                    return Err(self
                        .loc
                        .error(&at, format!("duplicate series id {:?}", s.id)));
                }
                continue;
            }
            let theirs = o.patterns();
            if mine.iter().any(|p| theirs.iter().any(|q| p.intersects(q))) {
                return Err(self.loc.error(
                    &at,
                    format!(
                        "{:?} can produce the same series id as series[{j}] ({:?}): make the \
                         fixed parts of the ids differ",
                        s.id, o.id
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    const BASE: &str = r#"[sources.cbs]
kind = "cbs"
schedule = "0 30 6 * * Mon-Fri"
"#;

    fn parse(series: &str) -> Result<Config, String> {
        Config::parse(Path::new("t.toml"), &format!("{BASE}{series}")).map_err(|e| e.to_string())
    }

    fn group(id: &str, dims: &str) -> String {
        format!(
            "[[series]]\nid = \"{id}\"\nsource = \"cbs\"\ntable = \"85806NED\"\n\
             measure = \"M\"\ndimensions = {{ {dims} }}\ntitle = \"y/y: {{B.title}}\"\n"
        )
    }

    #[test]
    fn a_group_needs_its_keys_in_the_id() {
        let e = parse(&group("nl.branch.yoy", "B = \"*\"")).unwrap_err();
        assert!(
            e.starts_with("t.toml:5:6: series[0].id:") && e.contains("must contain {B}"),
            "{e}"
        );
        let c = parse(&group("nl.{B}.yoy", "B = \"*\", P = \"x\"")).unwrap();
        let g = c.series[0].group.as_ref().unwrap();
        assert!(g.dims.contains_key("B") && c.series[0].dimensions["P"] == "x");
        let e = parse(&group("nl.{C}.yoy", "B = \"*\"")).unwrap_err();
        assert!(e.contains("unknown placeholder {C}"), "{e}");
    }

    #[test]
    fn templates_that_can_collide_are_refused() {
        let plain = "[[series]]\nid = \"nl.307500.yoy\"\nsource = \"cbs\"\ntable = \"T\"\nmeasure = \"M\"\n";
        let e = parse(&format!("{plain}{}", group("nl.{B}.yoy", "B = \"*\""))).unwrap_err();
        assert!(
            e.contains("can produce the same series id as series[0]"),
            "{e}"
        );
        // Listed keys that differ do not collide; a second open group does.
        let two = format!(
            "{}{}",
            group("nl.{B}.yoy", "B = [\"1\", \"2\"]"),
            group("nl.{B}.yoy", "B = [\"3\"]")
        );
        assert!(parse(&two).is_ok());
        let e = parse(&format!(
            "{}{}",
            group("nl.{B}.yoy", "B = \"*\""),
            group("nl.x{B}.yoy", "B = \"*\"")
        ))
        .unwrap_err();
        assert!(e.contains("series[1].id"), "{e}");
    }

    #[test]
    fn rule_globs_may_match_expanded_ids_only() {
        let rule = |glob: &str| {
            format!(
                "{}[[rules]]\nid = \"r\"\nseries = \"{glob}\"\nkind = \"release\"\n",
                group("nl.branch.{B}.yoy", "B = \"*\"")
            )
        };
        assert!(parse(&rule("nl.branch.*.yoy")).is_ok());
        assert!(parse(&rule("nl.branch.3?????.yoy")).is_ok());
        let e = parse(&rule("nl.branch.*.mom")).unwrap_err();
        assert!(e.contains("matches no configured series"), "{e}");
    }

    /// Keys become series ids and sled keys: `#` names a derived series' levels record,
    /// control characters join names (NUL) or forge log lines (newline).
    #[test]
    fn keys_with_reserved_or_control_characters_are_refused_where_written() {
        let e = parse(&group("nl.{B}.yoy", "B = \"*\", P = \"a\\nERROR forged\"")).unwrap_err();
        assert!(
            e.starts_with("t.toml:9:")
                && e.contains("series[0].dimensions.P")
                && e.contains("control character '\\n'"),
            "{e}"
        );
        let e = parse(&group("nl.{B}.yoy", "B = [\"1\", \"2#level\"]")).unwrap_err();
        assert!(
            e.starts_with("t.toml:9:") && e.contains("\"2#level\" must not contain '#'"),
            "{e}"
        );
        let e = parse(&group("nl.x\\u001b[2J.{B}", "B = \"*\"")).unwrap_err();
        assert!(
            e.starts_with("t.toml:5:") && e.contains("control character '\\u{1b}'"),
            "{e}"
        );
        let e = parse(&format!(
            "[[series]]\nid = \"{}\"\nsource = \"cbs\"\ntable = \"T\"\nmeasure = \"M\"\n",
            "x".repeat(600)
        ))
        .unwrap_err();
        assert!(e.contains("600 bytes long; at most 512"), "{e}");
    }

    #[test]
    fn keys_or_dimensions_equal_once_trimmed_are_refused_naming_both() {
        let e = parse(&group("nl.{B}.yoy", "B = [\"307500\", \" 307500 \"]")).unwrap_err();
        assert!(
            e.starts_with("t.toml:9:")
                && e.contains(
                    r#"listed keys "307500" and " 307500 " are the same key once trimmed"#
                ),
            "{e}"
        );
        let e = parse(&group("nl.{B}.yoy", "B = \"*\", \"B \" = \"1\"")).unwrap_err();
        assert!(
            e.contains(r#"dimensions "B" and "B " are the same dimension once trimmed"#),
            "{e}"
        );
    }
}
