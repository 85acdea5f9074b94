//! A real webhook receiver on loopback: records every POST (headers and raw body) and answers
//! with a scripted status (default 200).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

#[derive(Clone, Debug)]
pub struct Post {
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    /// What the hook answered.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    posts: Vec<Post>,
    script: Vec<u16>,
}

pub struct Hook {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(s): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut inner = s.lock().unwrap();
    let status = if inner.script.is_empty() {
        200
    } else {
        inner.script.remove(0)
    };
    inner.posts.push(Post {
        timestamp: h("x-statwatch-timestamp"),
        signature: h("x-statwatch-signature"),
        body: body.to_vec(),
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

impl Hook {
    pub async fn start() -> Hook {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/hook", post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Hook { url, inner, task }
    }

    /// The next answers, in order (then 200 again).
    pub fn answer(&self, statuses: &[u16]) {
        self.inner.lock().unwrap().script = statuses.to_vec();
    }

    pub fn posts(&self) -> Vec<Post> {
        self.inner.lock().unwrap().posts.clone()
    }

    /// The posts answered with 200: what the receiver accepted.
    pub fn accepted(&self) -> Vec<Post> {
        self.posts()
            .into_iter()
            .filter(|p| p.status == 200)
            .collect()
    }
}
