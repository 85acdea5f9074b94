//! `[[briefs]]`: lead, context and breakdown must name configured series (a group's template
//! or a glob that could match one of its ids counts); ids are unique and distinct from rule
//! ids, since receivers subscribe to both with the same globs.

use super::super::locate::Seg;
use super::super::raw::RawBrief;
use super::super::{BriefConfig, ConfigError, SeriesConfig};
use super::{glob, Validator};
use crate::rules::RuleConfig;

/// Movers named at each end when `top` is not set.
const DEFAULT_TOP: usize = 3;

impl Validator<'_, '_> {
    pub(super) fn briefs(
        &self,
        raw: &[RawBrief],
        series: &[SeriesConfig],
        rules: &[RuleConfig],
    ) -> Result<Vec<BriefConfig>, ConfigError> {
        let mut out: Vec<BriefConfig> = Vec::new();
        for (i, b) in raw.iter().enumerate() {
            let brief = self.brief(i, b, series)?;
            let at = [Seg::Key("briefs"), Seg::Index(i), Seg::Key("id")];
            if out.iter().any(|o| o.id == brief.id) {
                return Err(self
                    .loc
                    .error(&at, format!("duplicate brief id {:?}", brief.id)));
            }
            if rules.iter().any(|r| r.id == brief.id) {
                return Err(self.loc.error(
                    &at,
                    format!(
                        "{:?} is also a rule id: receivers could not tell them apart",
                        brief.id
                    ),
                ));
            }
            out.push(brief);
        }
        Ok(out)
    }

    fn brief(
        &self,
        i: usize,
        b: &RawBrief,
        series: &[SeriesConfig],
    ) -> Result<BriefConfig, ConfigError> {
        let at = |k: &'static str| [Seg::Key("briefs"), Seg::Index(i), Seg::Key(k)];
        if b.id.trim().is_empty() {
            return Err(self.loc.error(&at("id"), "a brief id must not be empty"));
        }
        let known = |pattern: &str| -> Result<globset::GlobMatcher, String> {
            let m = glob(pattern)?;
            let plain = series
                .iter()
                .any(|s| s.group.is_none() && m.is_match(&s.id));
            if plain || crate::config::group::could_match(pattern, series) {
                Ok(m)
            } else {
                Err(format!("{pattern:?} matches no configured series"))
            }
        };
        // The lead and context are single series: a glob would make "the" value ambiguous.
        for (key, id) in
            std::iter::once(("lead", &b.lead)).chain(b.context.iter().map(|c| ("context", c)))
        {
            if id.contains(['*', '?', '[', '{']) {
                return Err(self
                    .loc
                    .error(&at(key), format!("{id:?}: name one series, not a glob")));
            }
            known(id).map_err(|m| self.loc.error(&at(key), m))?;
        }
        let breakdown = match &b.breakdown {
            Some(g) => Some((
                g.clone(),
                known(g).map_err(|m| self.loc.error(&at("breakdown"), m))?,
            )),
            None => None,
        };
        let top = match b.top {
            None => DEFAULT_TOP,
            Some(n) if (1..=20).contains(&n) => n as usize,
            Some(_) => return Err(self.loc.error(&at("top"), "top must be from 1 to 20")),
        };
        Ok(BriefConfig {
            id: b.id.clone(),
            title: b.title.clone().unwrap_or_else(|| b.id.clone()),
            lead: b.lead.clone(),
            context: b.context.clone(),
            breakdown,
            top,
        })
    }
}
