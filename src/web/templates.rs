//! The pages' HTML templates: embedded in the binary (no files to install, nothing to fetch),
//! compiled once at start so a broken template fails start-up rather than a page view, and
//! autoescaped (the names end in `.html`): a CBS title with `<` is shown as text.

use minijinja::value::Serde;
use minijinja::{Environment, Value};
use serde::Serialize;

use super::WebError;

const TEMPLATES: [(&str, &str); 4] = [
    ("base.html", include_str!("templates/base.html")),
    ("index.html", include_str!("templates/index.html")),
    ("series.html", include_str!("templates/series.html")),
    ("alerts.html", include_str!("templates/alerts.html")),
];

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles every template, naming the first that does not.
    pub fn load() -> Result<Templates, WebError> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|source| WebError::Template {
                    name: name.into(),
                    source,
                })?;
        }
        Ok(Templates { env })
    }

    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)?
            .render(Value::from(Serde(data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_strings_are_escaped_and_charts_are_not() {
        let t = Templates::load().unwrap();
        let data = serde_json::json!({
            "title": "A <b>bold</b> & \"quoted\" title",
            "series": [],
            "sources": [],
        });
        let html = t.render("index.html", &data).unwrap();
        assert!(!html.contains("<b>bold"), "{html}");
        assert!(html.contains("&lt;b&gt;bold"), "{html}");
        assert!(html.contains("name=\"viewport\""));
        assert!(!html.contains("<script"));
    }
}
