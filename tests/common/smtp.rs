//! A real SMTP server for the tests: Debian's python3-aiosmtpd (`tests/smtp_server.py`) on
//! 127.0.0.1 with STARTTLS or implicit TLS and AUTH, a certificate from a test CA made here
//! with rcgen, and the `[smtp]` config that trusts it. Shared by tests/email.rs,
//! tests/email_content.rs and tests/briefs.rs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const PYTHON: &str = "/usr/bin/python3";
pub const USER: &str = "statwatch";
pub const PASSWORD: &str = "smtp-pass-Kd93hq";

/// Fails (never skips) when the SMTP server cannot run, saying how to fix it.
pub fn require_aiosmtpd() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{PYTHON} cannot import aiosmtpd: install it with `apt-get install -y python3-aiosmtpd` \
         (the email tests need a real SMTP server)"
    );
}

/// A test CA and a server certificate for `localhost` and 127.0.0.1, as PEM files.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "statwatch test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let p = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&p.ca, ca.pem()).unwrap();
    std::fs::write(&p.cert, leaf.pem()).unwrap();
    std::fs::write(&p.key, leaf_key.serialize_pem()).unwrap();
    p
}

/// The aiosmtpd process; killed when dropped.
pub struct SmtpServer {
    child: Child,
    spool: PathBuf,
}

impl SmtpServer {
    pub fn start(port: u16, pki: &Pki, spool: &Path, mode: &str) -> SmtpServer {
        require_aiosmtpd();
        std::fs::create_dir_all(spool).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args(["--port", &port.to_string()])
            .arg("--cert")
            .arg(&pki.cert)
            .arg("--key")
            .arg(&pki.key)
            .arg("--spool")
            .arg(spool)
            .args(["--user", USER, "--password", PASSWORD, "--mode", mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn /usr/bin/python3 tests/smtp_server.py");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read from smtp_server.py");
        if line.trim() != "READY" {
            let _ = child.kill();
            panic!("smtp_server.py did not start (printed {line:?}; see its stderr above)");
        }
        SmtpServer {
            child,
            spool: spool.to_path_buf(),
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.spool)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn email_config(port: u16, tls: &str, password: &str, ca: Option<&Path>) -> String {
    let ca = ca
        .map(|p| format!("ca_file = \"{}\"\n", p.display()))
        .unwrap_or_default();
    format!(
        r#"
[receivers.macro]
kind = "email"
to = ["macro@example.org", "ops@example.org"]

[smtp]
host = "127.0.0.1"
port = {port}
tls = "{tls}"
username = "{USER}"
password = "{password}"
from = "statwatch <statwatch@example.org>"
timeout_secs = 5
{ca}"#
    )
}
