//! The log receiver (`kind = "log"`): each brief and alert as one structured log line. It needs no
//! server, so it is what the default config uses, and it cannot fail.

use tracing::info;

use crate::model::Alert;

pub(super) fn send(receiver: &str, alerts: &[Alert]) {
    for a in alerts {
        if a.is_brief() {
            info!(
                receiver,
                brief = %a.rule,
                period = %a.period_text(),
                id = %a.id,
                text = %a.brief_text().unwrap_or(&a.summary),
                "brief"
            );
            continue;
        }
        info!(
            receiver,
            rule = %a.rule,
            severity = %a.severity,
            series = %a.series,
            period = %a.period_text(),
            value = a.value,
            summary = %a.summary,
            id = %a.id,
            "alert"
        );
    }
}
