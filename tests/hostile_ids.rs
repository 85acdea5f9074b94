//! Hostile ids from clients: a long id that almost fits a 3-key group template, asked for on
//! `/series/{id}`, `/api/series/{id}` and through the control socket (`statwatch series ID`
//! beside the running daemon). Matching it by backtracking took cubic time (3,000 bytes:
//! minutes of CPU per request, going on after the client left); it is refused at once as no
//! series.

mod common;

use common::daemon::*;
use common::*;

#[test]
fn a_long_hostile_id_is_no_series_on_the_pages_and_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let cbs = FakeCbs::start();
    let port = free_port();
    let extra = format!(
        "\n[[series]]\nid = \"nl.{{A}}.{{B}}.{{C}}.x\"\nsource = \"cbs\"\ntable = \"T3\"\n\
         measure = \"M\"\ndimensions = {{ A = \"*\", B = \"*\", C = \"*\" }}\n\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    let text = daemon_config(&dir.path().join("state"), &cbs, "0 0 0 1 1 *", &extra);
    let path = write_config(dir.path(), &text);
    let _daemon = Daemon::spawn(&path, &[]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for("the pages", || !http_get_fails(&addr.to_string()));
    wait_for("the control socket", || {
        dir.path().join("state/control.sock").exists()
    });

    // Fits the template everywhere but at its very end.
    let hostile = format!("nl.{}y", "a.".repeat(1500));
    // A near miss answers like any other (the http_get read times out in 10 s otherwise).
    for page in ["/series/", "/api/series/"] {
        let (code, body) = http_get(addr, &format!("{page}{hostile}"));
        assert_eq!(code, 404, "{page}: {body}");
    }
    let fits = "nl.a.b.c.x";
    assert_eq!(http_get(addr, &format!("/series/{fits}")).0, 200);
    // An id with the store's separator would name another record (`ID#level`).
    assert_eq!(http_get(addr, "/series/nl.a.b.c%23level.x").0, 404);

    let o = statwatch_blocking(&path, &["series", &hostile]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no series"), "{err}");
}
