//! Route lookup with 1, 100 and 10,000 bridges loaded: it must stay flat.
//!
//! Run: `cargo bench --bench lookup`

mod support;

use std::hint::black_box;
use std::sync::Arc;

use bridgeway::file::env::{EnvSource, ProcessEnv};
use bridgeway::routes::snapshot::Lookup;
use bridgeway::{Loader, Snapshot};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::Method;

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    for count in [1, 100, 10_000] {
        let dir = tempfile::tempdir().unwrap();
        support::write_bridges(dir.path(), count, 0);
        let env: Arc<dyn EnvSource> = Arc::new(ProcessEnv);
        let snapshot = Loader::new(dir.path(), env)
            .load(&Snapshot::empty())
            .unwrap();
        assert_eq!(snapshot.served.len(), count);
        let hit = format!("/api/v1/bridge-{}", count - 1);
        group.bench_with_input(BenchmarkId::new("hit", count), &count, |b, _| {
            b.iter(|| {
                matches!(
                    snapshot.lookup(&Method::POST, black_box(&hit)),
                    Lookup::Found(_)
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("miss", count), &count, |b, _| {
            b.iter(|| {
                matches!(
                    snapshot.lookup(&Method::POST, black_box("/api/v1/nope")),
                    Lookup::NotFound
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
