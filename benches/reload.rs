//! Reloading a bridge directory of 1, 100 and 1,000 files: everything new (start-up), one file
//! changed (the common edit), nothing changed (a rescan).
//!
//! Run: `cargo bench --bench reload`

mod support;

use std::sync::Arc;

use bridgeway::file::env::{EnvSource, ProcessEnv};
use bridgeway::{Loader, Snapshot};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn reload(c: &mut Criterion) {
    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    for count in [1, 100, 1000] {
        let dir = tempfile::tempdir().unwrap();
        support::write_bridges(dir.path(), count, 0);
        let env: Arc<dyn EnvSource> = Arc::new(ProcessEnv);
        let loader = Loader::new(dir.path(), env);
        let empty = Snapshot::empty();
        group.bench_with_input(BenchmarkId::new("all new", count), &count, |b, _| {
            b.iter(|| loader.load(&empty).unwrap())
        });
        let previous = loader.load(&empty).unwrap();
        group.bench_with_input(BenchmarkId::new("unchanged", count), &count, |b, _| {
            b.iter(|| loader.load(&previous).unwrap())
        });
        // One file differs from `previous` on disk, so every load recompiles exactly one.
        std::fs::write(
            dir.path().join("bridge-00000.yaml"),
            support::bridge_text(0, 1),
        )
        .unwrap();
        group.bench_with_input(BenchmarkId::new("one changed", count), &count, |b, _| {
            b.iter(|| loader.load(&previous).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, reload);
criterion_main!(benches);
