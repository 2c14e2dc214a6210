//! The OAuth2 token on the request path: what a request pays for its token once the cache is
//! warm (SPEC §5.2: "the token lookup on the request path must cost next to nothing"), beside
//! a request whose credential is a constant header built at load.
//!
//! A token endpoint on 127.0.0.1 (a few lines of tokio: the real authorization server is in the
//! tests) answers the one token request made before measuring.
//!
//! Run: `cargo bench --bench token`

use std::hint::black_box;
use std::sync::Arc;

use bridgeway::file::OAuth2Spec;
use bridgeway::stages::upstream_auth::{TokenSource, UpstreamAuth};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers every connection's first request with a bearer token valid for an hour.
async fn token_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let body = r#"{"access_token":"bench-token","token_type":"Bearer","expires_in":3600}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    url
}

fn cached_token(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = runtime.block_on(token_endpoint());
    let spec: OAuth2Spec = serde_yaml::from_str(&format!(
        "{{token_url: '{url}', client_id: bench, client_secret: bench-secret}}"
    ))
    .unwrap();
    let (source, _) = TokenSource::for_settings(&spec, None).unwrap();
    let source: Arc<TokenSource> = source;
    runtime
        .block_on(source.bearer())
        .expect("the first token is fetched");

    let mut group = c.benchmark_group("upstream credential");
    group.bench_function("oauth2, cached token", |b| {
        b.iter(|| {
            let mut headers = HeaderMap::new();
            // A warm cache answers on the first poll: no runtime round trip is measured.
            let token = black_box(&source)
                .bearer()
                .now_or_never()
                .expect("ready at once")
                .unwrap();
            headers.insert(http::header::AUTHORIZATION, token.header);
            headers
        })
    });
    let bearer: bridgeway::file::UpstreamAuthSpec =
        serde_yaml::from_str("{bearer: constant-token}").unwrap();
    let (constant, _) = UpstreamAuth::compile(&bearer, None).unwrap();
    group.bench_function("bearer, built at load", |b| {
        b.iter(|| {
            let mut headers = HeaderMap::new();
            black_box(&constant).apply_headers(&mut headers);
            headers
        })
    });
    group.finish();
}

criterion_group!(benches, cached_token);
criterion_main!(benches);
