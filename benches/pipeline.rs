//! The request path without the network: each pipeline stage for fetch-post, the whole of it,
//! and mapping a 100 KB upstream body.
//!
//! Run: `cargo bench --bench pipeline`

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bridgeway::Bridge;
use bridgeway::bridge::compile_text;
use bridgeway::file::env::EnvSource;
use bridgeway::stages::fetch::UpstreamResponse;
use bridgeway::stages::intake::Inbound;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, StatusCode};
use serde_json::json;

fn env() -> Arc<dyn EnvSource> {
    let map: std::collections::HashMap<String, String> = [(
        "JSONPLACEHOLDER_URL".to_owned(),
        "http://127.0.0.1:18081".to_owned(),
    )]
    .into();
    Arc::new(map)
}

fn bridge(file: &str, text: &str) -> Bridge {
    compile_text(Path::new(file), text, &env()).expect("the bench bridge compiles")
}

fn fetch_post() -> Bridge {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bridges/fetch-post.yaml"
    ))
    .unwrap();
    bridge("fetch-post.yaml", &text)
}

/// A JSONPlaceholder post, pretty-printed as the real service sends it (about 300 bytes).
fn post_body() -> Bytes {
    let post = json!({
        "userId": 5,
        "id": 42,
        "title": "commodi ullam sint et excepturi error explicabo praesentium voluptas",
        "body": "odio fugit voluptatum ducimus earum autem est incidunt voluptatem\nodit reiciendis aliquam sunt sequi nulla dolorem\nnon facere repellendus voluptates quia\nratione harum vitae ut",
    });
    Bytes::from(serde_json::to_vec_pretty(&post).unwrap())
}

/// `count` comment objects (500 make about 100 KB), the shape of JSONPlaceholder's /comments.
fn comments_body(count: usize) -> Bytes {
    let comments: Vec<_> = (1..=count)
        .map(|i| {
            json!({
                "postId": i / 5 + 1,
                "id": i,
                "name": format!("id labore ex et quam laborum {i}"),
                "email": format!("Eliseo{i}@gardner.biz"),
                "body": "laudantium enim quasi est quidem magnam voluptate ipsam eos\ntempora quo necessitatibus\ndolor quam autem quasi",
            })
        })
        .collect();
    Bytes::from(serde_json::to_vec(&comments).unwrap())
}

fn answer(body: &Bytes) -> UpstreamResponse {
    UpstreamResponse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: body.clone(),
        elapsed: Duration::from_micros(100),
    }
}

const INPUT: &[u8] = br#"{"user_id": 42, "query_text": "hello from the flow"}"#;

fn stages(c: &mut Criterion) {
    let bridge = fetch_post();
    let body = post_body();
    let mut group = c.benchmark_group("fetch-post");
    group.bench_function("validate", |b| {
        b.iter(|| {
            bridge
                .input
                .validate(Inbound::parse_json(black_box(INPUT)).unwrap())
                .unwrap()
        })
    });
    let input = bridge
        .input
        .validate(Inbound::parse_json(INPUT).unwrap())
        .unwrap();
    group.bench_function("render", |b| {
        b.iter(|| {
            bridge
                .upstream
                .render(black_box(&input), "bench-id")
                .unwrap()
        })
    });
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("map 300 B", |b| {
        b.iter(|| {
            bridge
                .output
                .reply(&answer(black_box(&body)), &serde_json::Value::Null)
                .unwrap()
        })
    });
    group.bench_function("validate+render+map", |b| {
        b.iter(|| {
            let input = bridge
                .input
                .validate(Inbound::parse_json(black_box(INPUT)).unwrap())
                .unwrap();
            let request = bridge.upstream.render(&input, "bench-id").unwrap();
            black_box(request);
            bridge
                .output
                .reply(&answer(&body), &serde_json::Value::Null)
                .unwrap()
        })
    });
    group.finish();
}

/// Rendering into each placement: path segment and query, headers, a JSON body.
fn placements(c: &mut Criterion) {
    let bridge = bridge(
        "placements.yaml",
        r#"
route: { path: /orders }
input:
  id:    { type: integer, required: true }
  name:  { type: string }
  token: { type: string }
upstream:
  method: POST
  url: "${JSONPLACEHOLDER_URL}/customers/{{input.id}}/orders"
  query: { q: "{{input.name}}", limit: 10 }
  headers: { X-Customer: "{{input.name}}", X-Token: "Bearer {{input.token}}" }
  body:
    customer: "{{input.id}}"
    label: "order for {{input.name}}"
    items: [{ sku: "A-1", qty: 2 }]
"#,
    );
    let input = r#"{"id": 42, "name": "Zoë O'Brien & co", "token": "t-123"}"#.as_bytes();
    let input = bridge
        .input
        .validate(Inbound::parse_json(input).unwrap())
        .unwrap();
    c.bench_function("render/url+query+headers+body", |b| {
        b.iter(|| {
            bridge
                .upstream
                .render(black_box(&input), "bench-id")
                .unwrap()
        })
    });
}

fn big_body(c: &mut Criterion) {
    let bridge = bridge(
        "comments.yaml",
        r#"
route: { path: /comments }
upstream: { url: "${JSONPLACEHOLDER_URL}/comments" }
output:
  first_email: { path: "$[0].email", type: string }
  last_id:     { path: "$[-1].id", type: integer }
  names:       { path: "$[*].name", type: array, items: string }
  post_7:      { path: "$[?@.postId == 7].id", type: array, items: integer }
"#,
    );
    // The same mapping over ~10 KB, ~100 KB and ~1 MB: the cost must grow linearly.
    let mut group = c.benchmark_group("comments");
    for (count, label) in [(50, "map 10 KB"), (500, "map 100 KB"), (5000, "map 1 MB")] {
        let body = comments_body(count);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                bridge
                    .output
                    .reply(&answer(black_box(&body)), &serde_json::Value::Null)
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// Singular paths over ~100 KB: the extractor skips all but two of 500 objects.
fn picked_body(c: &mut Criterion) {
    let bridge = bridge(
        "picked.yaml",
        r#"
route: { path: /picked }
upstream: { url: "${JSONPLACEHOLDER_URL}/comments" }
output:
  first_email: { path: "$[0].email", type: string }
  last_id:     { path: "$[499].id", type: integer }
"#,
    );
    let body = comments_body(500);
    let mut group = c.benchmark_group("comments");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("map picked 100 KB", |b| {
        b.iter(|| {
            bridge
                .output
                .reply(&answer(black_box(&body)), &serde_json::Value::Null)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, stages, placements, big_body, picked_body);
criterion_main!(benches);
