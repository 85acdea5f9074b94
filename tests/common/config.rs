//! The one way tests write a `statwatch.toml`: [`ConfigText`], a builder that renders the
//! top-level keys, the sources, the series, the rules, a log receiver and any extra sections,
//! in that order; and the configs several tests share, built with it.

use std::path::{Path, PathBuf};

use super::{BRANCH_DIM, CONFIDENCE, CONF_MEASURE, INDUSTRY, YOY};

/// A config file's text, built up section by section.
pub struct ConfigText {
    state_dir: String,
    timezone: Option<String>,
    sources: Vec<Source>,
    series: Vec<Series>,
    rules: String,
    log_receiver: bool,
    extra: String,
}

impl ConfigText {
    /// `state_dir` and a log receiver `journal`, nothing else yet.
    pub fn new(state_dir: &Path) -> ConfigText {
        ConfigText {
            state_dir: state_dir.display().to_string(),
            timezone: None,
            sources: Vec::new(),
            series: Vec::new(),
            rules: String::new(),
            log_receiver: true,
            extra: String::new(),
        }
    }

    pub fn timezone(mut self, tz: &str) -> ConfigText {
        self.timezone = Some(tz.to_string());
        self
    }

    /// Adds a source; one of the same name is replaced.
    pub fn source(mut self, source: Source) -> ConfigText {
        self.sources.retain(|s| s.name != source.name);
        self.sources.push(source);
        self
    }

    pub fn series(mut self, series: Series) -> ConfigText {
        self.series.push(series);
        self
    }

    /// `[[rules]]` (or `[[briefs]]`) entries, as written.
    pub fn rules(mut self, text: &str) -> ConfigText {
        self.rules.push_str(text);
        self
    }

    /// No `[receivers.journal]`.
    pub fn without_log_receiver(mut self) -> ConfigText {
        self.log_receiver = false;
        self
    }

    /// Sections after everything else (receivers, `[web]`, `[store]`, ...), as written.
    pub fn extra(mut self, text: &str) -> ConfigText {
        self.extra.push_str(text);
        self
    }

    pub fn text(&self) -> String {
        let mut out = format!("\nstate_dir = \"{}\"\n", self.state_dir);
        if let Some(tz) = &self.timezone {
            out.push_str(&format!("timezone = \"{tz}\"\n"));
        }
        for s in &self.sources {
            out.push('\n');
            out.push_str(&s.text());
        }
        for s in &self.series {
            out.push('\n');
            out.push_str(&s.text());
        }
        if !self.rules.is_empty() {
            out.push('\n');
            out.push_str(&self.rules);
        }
        if self.log_receiver {
            out.push_str("\n[receivers.journal]\nkind = \"log\"\n");
        }
        out.push_str(&self.extra);
        out.push('\n');
        out
    }

    /// Writes `dir/statwatch.toml`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        write_config(dir, &self.text())
    }

    /// Parsed by the real config code, as `statwatch` would read it.
    pub fn parse(&self) -> statwatch::config::Config {
        let text = self.text();
        statwatch::config::Config::parse(Path::new("t.toml"), &text)
            .unwrap_or_else(|e| panic!("test config does not parse: {e}\n{text}"))
    }
}

/// Writes `dir/statwatch.toml`.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("statwatch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A `[sources.NAME]` table: its keys in the order they were first set.
pub struct Source {
    name: String,
    lines: Vec<String>,
}

impl Source {
    pub fn new(name: &str, kind: &str) -> Source {
        Source {
            name: name.to_string(),
            lines: vec![format!("kind = \"{kind}\"")],
        }
    }

    /// `key = "value"`.
    pub fn set(self, key: &str, value: &str) -> Source {
        self.line(key, format!("\"{value}\""))
    }

    pub fn base_url(self, url: &str) -> Source {
        self.set("base_url", url)
    }

    pub fn schedule(self, cron: &str) -> Source {
        self.set("schedule", cron)
    }

    pub fn timeout_secs(self, secs: u32) -> Source {
        self.line("timeout_secs", secs)
    }

    pub fn history_years(self, years: u32) -> Source {
        self.line("history_years", years)
    }

    /// A GENESIS login: an API token with an empty password, or a user account.
    pub fn login(self, username: &str, password: &str) -> Source {
        self.set("username", username).set("password", password)
    }

    /// Sets `key`; a key set again keeps its place and takes the new value.
    fn line(mut self, key: &str, value: impl std::fmt::Display) -> Source {
        let line = format!("{key} = {value}");
        let prefix = format!("{key} = ");
        match self.lines.iter_mut().find(|l| l.starts_with(&prefix)) {
            Some(old) => *old = line,
            None => self.lines.push(line),
        }
        self
    }

    fn text(&self) -> String {
        format!("[sources.{}]\n{}\n", self.name, self.lines.join("\n"))
    }
}

/// A `[[series]]` entry.
pub struct Series {
    id: String,
    source: String,
    table: String,
    measure: String,
    dimensions: Vec<(String, String)>,
    title: Option<String>,
    unit: Option<String>,
    derive: Option<String>,
}

impl Series {
    pub fn new(id: &str, source: &str, table: &str, measure: &str) -> Series {
        Series {
            id: id.to_string(),
            source: source.to_string(),
            table: table.to_string(),
            measure: measure.to_string(),
            dimensions: Vec::new(),
            title: None,
            unit: None,
            derive: None,
        }
    }

    /// A pinned key (or `*` for a group), in `dimensions`.
    pub fn dimension(mut self, name: &str, key: &str) -> Series {
        self.dimensions.push((name.to_string(), key.to_string()));
        self
    }

    pub fn title(mut self, title: &str) -> Series {
        self.title = Some(title.to_string());
        self
    }

    pub fn unit(mut self, unit: &str) -> Series {
        self.unit = Some(unit.to_string());
        self
    }

    pub fn derive(mut self, derive: &str) -> Series {
        self.derive = Some(derive.to_string());
        self
    }

    fn text(&self) -> String {
        let mut out = format!(
            "[[series]]\nid = \"{}\"\nsource = \"{}\"\ntable = \"{}\"\nmeasure = \"{}\"\n",
            self.id, self.source, self.table, self.measure
        );
        if !self.dimensions.is_empty() {
            let dims: Vec<String> = self
                .dimensions
                .iter()
                .map(|(k, v)| format!("{k} = \"{v}\""))
                .collect();
            out.push_str(&format!("dimensions = {{ {} }}\n", dims.join(", ")));
        }
        for (key, value) in [
            ("title", &self.title),
            ("unit", &self.unit),
            ("derive", &self.derive),
        ] {
            if let Some(v) = value {
                out.push_str(&format!("{key} = \"{v}\"\n"));
            }
        }
        out
    }
}

/// The fake CBS as most tests poll it: every five minutes of the morning, short timeouts,
/// twenty years of history.
pub fn cbs_source(base_url: &str) -> Source {
    Source::new("cbs", "cbs")
        .base_url(base_url)
        .schedule("0 */5 6-9 * * Mon-Fri")
        .timeout_secs(2)
        .history_years(20)
}

/// The fake GENESIS as the tests poll it, logged in with the API token.
pub fn genesis_source(base_url: &str) -> Source {
    Source::new("destatis", "destatis")
        .base_url(base_url)
        .schedule("0 */10 8-12 * * Mon-Fri")
        .login(super::destatis_server::DESTATIS_TOKEN, "")
        .timeout_secs(2)
}

/// Manufacturing (WZ08-C) in the GENESIS production index 42153-0001, adjusted as
/// `adjustment` (a `WERT03` code).
pub fn production_series(id: &str, adjustment: &str) -> Series {
    Series::new(id, "destatis", super::destatis_server::PRODUCTION, "PRO101")
        .dimension("WERT03", adjustment)
        .dimension("WZ08V1", "WZ08-C")
}

/// C Industrie's calendar adjusted y/y in 85806NED, titled `title`.
pub fn industry_series(title: &str) -> Series {
    Series::new("nl.industry.yoy", "cbs", INDUSTRY, YOY)
        .dimension(BRANCH_DIM, "307500")
        .title(title)
        .unit("%")
}

/// The config the CBS tests use: both series of the 2025 replay, a log receiver, `extra`.
/// Tests edit its text (tests/cbs_failures.rs replaces lines and names a line number in an error), so
/// its rendering is kept as it is.
pub fn cbs_config(base_url: &str, state_dir: &Path, extra: &str) -> String {
    ConfigText::new(state_dir)
        .timezone("Europe/Amsterdam")
        .source(cbs_source(base_url))
        .series(industry_series(
            "Industrial production NL, y/y % (calendar adjusted)",
        ))
        .series(
            Series::new("nl.confidence", "cbs", CONFIDENCE, CONF_MEASURE)
                .dimension(BRANCH_DIM, "307500")
                .title("Producer confidence NL (manufacturing)")
                .unit("balance"),
        )
        .extra(extra)
        .text()
}
