//! A Destatis table too big for the GENESIS dialog, against the local fake
//! (tests/common/destatis_server.rs): the job flow (`job=true`, `catalogue/results`,
//! `data/resultfile`), a token that may not run jobs, a job not ready within one poll, and a
//! file of another statistic, from the dialog or from a job.

mod common;

use common::config::{production_series, ConfigText};
use common::destatis_server::{
    DestatisServer, TableMode, DESTATIS_PASSWORD as PASSWORD, DESTATIS_TOKEN as TOKEN,
    DESTATIS_USER as USER, JOB, PRODUCTION as TABLE,
};
use common::genesis::*;
use statwatch::config::Config;
use statwatch::sources::{Check, FetchError, Source};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_too_big_table_goes_through_the_job_flow() {
    let (fake, base) = start(TableMode::TooBig {
        zip: release(&C_SA),
        not_ready: 2,
    })
    .await;
    let cfg = config(&base, TOKEN, "2021=100");
    let data = source(&cfg)
        .fetch(TABLE, &series(&cfg), &CancellationToken::new())
        .await
        .expect("fetch via job");
    assert_eq!(data.series["de.industry.index"].to_vec(), expected(&C_SA));
    assert_eq!(fake.count("data/tablefile"), 2, "job=false, then job=true");
    assert_eq!(
        fake.count("catalogue/results"),
        3,
        "two not ready, then ready"
    );
    assert_eq!(fake.count("data/resultfile"), 1);
    let jobs: Vec<String> = fake.with(|f| {
        f.forms
            .iter()
            .filter(|(e, _)| e == "data/tablefile")
            .map(|(_, form)| form["job"].clone())
            .collect()
    });
    assert_eq!(jobs, ["false", "true"]);

    // A job that never finishes is given up after the configured number of polls.
    fake.with(|f| {
        f.result_polls = 0;
        f.table = TableMode::TooBig {
            zip: Vec::new(),
            not_ready: 1000,
        };
    });
    let e = source(&cfg)
        .fetch(TABLE, &series(&cfg), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("GENESIS job {JOB} was not ready after 10 polls")),
        "{e}"
    );
    // The token used here may be why: the message says what to do if it repeats.
    assert!(
        e.to_string()
            .contains("give the source a GENESIS user account"),
        "{e}"
    );
}

/// How many `data/tablefile` requests asked for a job.
fn jobs_asked(fake: &DestatisServer) -> usize {
    fake.with(|f| {
        f.forms
            .iter()
            .filter(|(e, form)| e == "data/tablefile" && form["job"] == "true")
            .count()
    })
}

/// One poll of the table as the pipeline makes it: the change check, then the download.
async fn poll_once(src: &Source, cfg: &Config) -> Result<(), FetchError> {
    let Check::Changed { .. } = src.check(TABLE, None).await? else {
        panic!("a first check says changed");
    };
    src.fetch(TABLE, &series(cfg), &CancellationToken::new())
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_token_refused_a_job_is_told_what_to_do_and_asks_once_per_release() {
    let (fake, base) = start(TableMode::TooBig {
        zip: release(&C_SA),
        not_ready: 0,
    })
    .await;
    fake.with(|f| f.token_jobs_refused = true);
    let cfg = config(&base, TOKEN, "2021=100");
    let src = source(&cfg);
    for poll in 1..=2 {
        let m = poll_once(&src, &cfg).await.unwrap_err().to_string();
        assert!(
            m.contains(
                "table 42153-0001 is too big for the GENESIS dialog and needs a background job"
            ) && m.contains("user account (username and password)")
                && m.contains("history_years = 2")
                && m.contains("Hintergrundaufträge sind mit einem API-Token nicht möglich"),
            "poll {poll}: {m}"
        );
        assert!(!m.contains(TOKEN), "{m}");
    }
    assert_eq!(
        jobs_asked(&fake),
        1,
        "the same release is not asked for twice"
    );

    // A new release is asked for once more (the token might have been given the right).
    fake.with(|f| f.latest_update = "06.06.2025 08:00:11h".into());
    poll_once(&src, &cfg).await.unwrap_err();
    poll_once(&src, &cfg).await.unwrap_err();
    assert_eq!(jobs_asked(&fake), 2);

    // A user account runs the job.
    let user = config_with(&base, USER, PASSWORD, "2021=100");
    poll_once(&source(&user), &user)
        .await
        .expect("a user account runs the job");
    assert_eq!(jobs_asked(&fake), 3);
}

#[tokio::test]
async fn a_job_not_ready_in_one_poll_is_waited_for_at_the_next_not_started_again() {
    // Ready at the 15th results poll: the first poll gives up after 10.
    let (fake, base) = start(TableMode::TooBig {
        zip: release(&C_SA),
        not_ready: 14,
    })
    .await;
    let cfg = config_with(&base, USER, PASSWORD, "2021=100");
    let src = source(&cfg);
    let e = poll_once(&src, &cfg).await.unwrap_err();
    assert!(e.to_string().contains("waits for the same job"), "{e}");
    poll_once(&src, &cfg).await.expect("the same job's result");
    assert_eq!(jobs_asked(&fake), 1, "one job for one release");
    assert_eq!(fake.count("catalogue/results"), 15);
    assert_eq!(fake.count("data/resultfile"), 1);
}

/// A file of the consumer price index (statistic 61111) in the shape of the production index,
/// its levels ten times the production index's.
fn other_statistic(sa: &[f64]) -> String {
    let tenfold: Vec<f64> = sa.iter().map(|v| v * 10.0).collect();
    production_csv(&tenfold).replace(
        "\n42153;Produktionsindex für das Produzierende Gewerbe;",
        "\n61111;Verbraucherpreisindex für Deutschland;",
    )
}

#[tokio::test]
async fn a_file_of_another_statistic_fails_the_table_and_stores_nothing() {
    let (fake, base) = start(TableMode::Zip(release(&C_SA))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ConfigText::new(dir.path())
        .source(genesis(&base, "0 0 8 * * Mon-Fri", TOKEN, ""))
        .series(production_series("de.industry.index", "X13JDKSB").unit("2021=100"))
        .without_log_receiver()
        .parse();
    let store = statwatch::store::Store::open(dir.path()).expect("store");
    let src = source(&cfg);
    let cancel = CancellationToken::new();
    let poll = || statwatch::pipeline::poll_source(&cfg, &store, "destatis", &src, false, &cancel);
    let report = poll().await.expect("poll");
    assert!(!report.failed(), "{:?}", report.tables);
    let before = store.observations("de.industry.index").expect("read");
    assert_eq!(before.len(), 15);

    // The next release's tablefile is another statistic's.
    fake.with(|f| {
        f.latest_update = "06.06.2025 08:00:11h".into();
        f.table = TableMode::Zip(zipped("x.csv", &other_statistic(&C_SA_2)));
    });
    let report = poll().await.expect("poll");
    assert!(report.failed());
    let m = match &report.tables[0].result {
        Err(e) => e.to_string(),
        Ok(r) => panic!("stored: {r:?}"),
    };
    assert!(
        m.contains("data/tablefile for table 42153-0001")
            && m.contains("statistics_code \"61111\"")
            && m.contains("belongs to statistic 42153"),
        "{m}"
    );
    assert_eq!(
        store.observations("de.industry.index").expect("read"),
        before
    );

    // A job's result of another statistic: the same, naming the result.
    fake.with(|f| {
        f.table = TableMode::TooBig {
            zip: zipped("x.csv", &other_statistic(&C_SA_2)),
            not_ready: 0,
        }
    });
    let report = poll().await.expect("poll");
    let m = match &report.tables[0].result {
        Err(e) => e.to_string(),
        Ok(r) => panic!("stored: {r:?}"),
    };
    assert!(
        m.contains(&format!("data/resultfile {JOB} for table 42153-0001"))
            && m.contains("statistics_code \"61111\""),
        "{m}"
    );
    assert_eq!(
        store.observations("de.industry.index").expect("read"),
        before
    );

    // The right file of the same release is then stored: the stamp did not move on.
    fake.with(|f| f.table = TableMode::Zip(release(&C_SA_2)));
    let report = poll().await.expect("poll");
    assert!(!report.failed(), "{:?}", report.tables);
    assert_eq!(
        store.observations("de.industry.index").expect("read").len(),
        16
    );
}
