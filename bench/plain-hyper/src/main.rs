//! The baseline of `bench/serve`: the smallest hyper + tokio server that answers
//! every request with a short JSON body, so the benchmark's ratio isolates what
//! modhost adds (routing, a fresh sandbox per request, the guest's own work).

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_string());
    let listener = TcpListener::bind(&addr).await?;
    println!("plain-hyper listening on {}", listener.local_addr()?);
    // Scripts read the address from stdout as soon as it is printed.
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                let body = Bytes::from_static(br#"{"module":"plain","status":"active"}"#);
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(body))
                        .expect("static response is valid"),
                )
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
