//! The HTTP side of the metrics endpoint: a minimal HTTP/1 server (hyper)
//! that answers `GET /metrics`, and `GET /` with a page linking to it (as
//! the Prometheus exporters do, for a human who opens the address); 404
//! for other paths, 405 for other methods.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::debug;
use vcpe_api::Handler;

use super::render::{Format, render};

/// A client that sends no complete request head within this time is
/// disconnected.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the endpoint's TCP listener; the error says which option to change.
pub fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| anyhow::anyhow!("{}", bind_error(addr, &e)))?;
    Ok(TcpListener::from_std(listener)?)
}

/// What a failed bind of the metrics address means and what to do.
fn bind_error(addr: SocketAddr, e: &io::Error) -> String {
    let what = format!("cannot listen for metrics on {addr} ({e})");
    let fix = match e.kind() {
        io::ErrorKind::AddrInUse => format!(
            "another process (another vcped, an exporter) already listens on port {}: set \
             [metrics] listen to a free address:port, or remove the [metrics] section to run \
             without the endpoint",
            addr.port()
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this host (or of vcped's network namespace): set \
             [metrics] listen to one of its addresses, e.g. 127.0.0.1:{}",
            addr.ip(),
            addr.port()
        ),
        io::ErrorKind::PermissionDenied => format!(
            "port {} needs privileges: set [metrics] listen to a port above 1023",
            addr.port()
        ),
        _ => "check [metrics] listen in the config".to_owned(),
    };
    format!("{what}; {fix}")
}

/// Serves scrapes forever, one task per connection; the numbers come from
/// `handler` (the daemon's control-request handler).
pub async fn serve<H: Handler + Send + Sync + 'static>(listener: TcpListener, handler: Arc<H>) {
    let mut errors = crate::accept_backoff::AcceptErrors::new("metrics endpoint");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                errors.succeeded();
                stream
            }
            Err(e) => {
                errors.pause_after(&e).await;
                continue;
            }
        };
        let handler = Arc::clone(&handler);
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let handler = Arc::clone(&handler);
                let method = req.method().clone();
                let path = req.uri().path().to_owned();
                let accept = req
                    .headers()
                    .get(hyper::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                // Off the async workers: the handler takes the forwarding
                // mutex and waits for the BGP task, as control requests do.
                let answer = tokio::task::spawn_blocking(move || {
                    respond(&method, &path, accept.as_deref(), handler.as_ref())
                });
                async move {
                    Ok::<_, Infallible>(answer.await.unwrap_or_else(|_| {
                        text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "the metrics scrape failed; see the vcped log\n",
                        )
                    }))
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                debug!(error = %e, "metrics connection ended");
            }
        });
    }
}

/// The answer to one request.
fn respond(
    method: &Method,
    path: &str,
    accept: Option<&str>,
    handler: &dyn Handler,
) -> Response<Full<Bytes>> {
    if path == "/" && method == Method::GET {
        let mut r = text(StatusCode::OK, INDEX);
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return r;
    }
    if path != "/metrics" {
        return text(
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics\n",
        );
    }
    if method != Method::GET {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served: scrape /metrics with GET\n",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    let format = Format::from_accept(accept);
    match super::collect(handler).map(|s| render(s, format)) {
        Some(Ok(body)) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            r
        }
        _ => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "vcped could not read its own state for this scrape; see the vcped log\n",
        ),
    }
}

/// The page at `/`.
const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>vcped metrics</title></head>\n\
<body><h1>vcped</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use vcpe_api::{Reply, Request, Stats, Status};

    /// A daemon with one interface and no BGP.
    struct Fixed;
    impl Handler for Fixed {
        fn handle(&self, request: Request) -> Reply {
            match request {
                Request::Status => Reply::Status(Status {
                    version: "t".into(),
                    pid: 1,
                    uptime_secs: 2,
                    config_path: "c".into(),
                    router_id: "10.0.0.1".into(),
                    asn: 65001,
                    interfaces: 1,
                    static_routes: 0,
                    peers: 0,
                    bgp_neighbors: 0,
                }),
                Request::Stats => Reply::Stats(Box::new(Stats {
                    workers: 1,
                    fib_v4_routes: 1,
                    fib_v6_routes: 0,
                    interfaces: vec![vcpe_api::PortCounters {
                        name: "vcpe0".into(),
                        rx_packets: 3,
                        rx_bytes: 252,
                        tx_packets: 0,
                        tx_bytes: 0,
                    }],
                    drops: Default::default(),
                    events: Default::default(),
                    tunnels: vec![],
                    fib_route_changes: 1,
                    kernel_sync: None,
                    receive_threads: vec![],
                    handshakes: Default::default(),
                })),
                _ => Reply::Error {
                    message: "not answered in this test".into(),
                },
            }
        }
    }

    async fn body(r: Response<Full<Bytes>>) -> String {
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn only_get_of_metrics_is_answered() {
        let r = respond(&Method::GET, "/metrics", None, &Fixed);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], Format::Prometheus.content_type());
        let text = body(r).await;
        assert!(
            text.contains("vcpe_interface_receive_packets_total{interface=\"vcpe0\"} 3"),
            "{text}"
        );
        assert!(!text.contains("vcpe_bgp_"), "no BGP configured: {text}");

        let r = respond(&Method::GET, "/", None, &Fixed);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(body(r).await.contains("<a href=\"/metrics\">"));

        let r = respond(&Method::GET, "/other", None, &Fixed);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(body(r).await.contains("/metrics"));

        let r = respond(&Method::POST, "/metrics", None, &Fixed);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[ALLOW], "GET");

        let om = Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
        let r = respond(&Method::GET, "/metrics", om, &Fixed);
        assert_eq!(
            r.headers()[CONTENT_TYPE],
            Format::OpenMetrics.content_type()
        );
        assert!(body(r).await.ends_with("# EOF\n"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scrapes_over_http_and_a_taken_address_says_what_to_change() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, Arc::new(Fixed)));

        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("process_start_time_seconds "), "{ok}");
        let index = get("/").await;
        assert!(
            index.starts_with("HTTP/1.1 200 OK\r\n") && index.contains("href=\"/metrics\""),
            "{index}"
        );
        let missing = get("/nope").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

        let err = bind(addr).unwrap_err().to_string();
        assert!(
            err.contains("[metrics] listen") && err.contains(&addr.to_string()),
            "{err}"
        );
        assert!(err.contains("already listens"), "{err}");
        task.abort();
    }

    #[test]
    fn bind_errors_name_the_option() {
        let addr: SocketAddr = "192.0.2.1:9477".parse().unwrap();
        let e = bind_error(addr, &io::Error::from(io::ErrorKind::AddrNotAvailable));
        assert!(
            e.contains("not an address of this host") && e.contains("[metrics] listen"),
            "{e}"
        );
        let e = bind_error(addr, &io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(e.contains("above 1023"), "{e}");
    }
}
