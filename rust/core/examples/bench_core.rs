//! Raw-core verification benchmark: the limit the Python bindings are measured against.
//!
//! ```sh
//! cargo run --release -p proof-messenger-core --example bench_core -- proofs.jsonl \
//!     --audience payments-api --now-ms 1780000000000 --rounds 7
//! ```
//!
//! Reads one proof JSON per line, enrols each proof's key for its subject
//! (outside the timed region, like a server's key store), then times, over all
//! proofs, several rounds of:
//!
//! * `single`: per proof, `Proof::parse` + key lookup by subject + `verify::verify`;
//! * `batch`: parse on all cores + key lookup + `batch::verify_batch` (rayon);
//!
//! and, single-threaded, the phases of the path (JSON parse, proof assembly
//! with canonicalisation and digests, policy checks, signature preparation,
//! single equation, batch equations at several chunk sizes). Prints one JSON
//! object with median ns per proof for each.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::HashMap;
use std::time::Instant;

use curve25519_dalek::edwards::CompressedEdwardsY;
use proof_messenger_core::batch::{verify_batch, BatchItem, CHUNK_RANGE};
use proof_messenger_core::canonical::canonicalize;
use proof_messenger_core::digest;
use proof_messenger_core::ed25519::{verify_prepared_batch, PreparedSignature, PublicKey};
use proof_messenger_core::json::{self, Limits, Value};
use proof_messenger_core::proof::Proof;
use proof_messenger_core::verify::{check_policy, verify, Policy};

struct Args {
    path: String,
    audience: String,
    now_ms: u64,
    rounds: usize,
    threads: usize,
    quick: bool,
}

fn args() -> Args {
    let mut out = Args {
        path: String::new(),
        audience: "payments-api".to_owned(),
        now_ms: 0,
        rounds: 7,
        threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        quick: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--audience" => out.audience = it.next().expect("--audience VALUE"),
            "--now-ms" => out.now_ms = it.next().expect("--now-ms VALUE").parse().expect("integer"),
            "--rounds" => out.rounds = it.next().expect("--rounds VALUE").parse().expect("integer"),
            "--threads" => out.threads = it.next().expect("--threads VALUE").parse().expect("integer"),
            "--quick" => out.quick = true,
            _ if out.path.is_empty() => out.path = arg,
            other => panic!("unexpected argument {other:?}"),
        }
    }
    assert!(!out.path.is_empty(), "usage: bench_core PROOFS.jsonl [--audience A] [--now-ms N] [--rounds R]");
    out
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

/// Median over `rounds` of (elapsed ns / per), running `f` once per round after one warm-up.
fn time_per<T>(rounds: usize, per: usize, mut f: impl FnMut() -> T) -> (f64, Vec<f64>) {
    std::hint::black_box(f());
    let samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_nanos() as f64 / per as f64
        })
        .collect();
    (median(samples.clone()), samples)
}

/// Parses every line on `threads` OS threads, keeping order (what the Python binding does with rayon).
fn parse_parallel(lines: &[&[u8]], limits: &Limits, threads: usize) -> Vec<Proof> {
    let per = lines.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().map(|l| Proof::parse(l, limits).unwrap()).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// CPU time of the whole process (every thread, live or exited), from /proc (Linux), in ns.
fn cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000) // USER_HZ = 100 on Linux
}

fn subject(proof: &Proof) -> &str {
    proof.envelope().subject().expect("benchmark proofs name a subject")
}

fn main() {
    let args = args();
    let text = std::fs::read(&args.path).expect("read proofs file");
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let n = lines.len();
    let limits = Limits::default();
    let policy = Policy::new(args.audience.clone(), args.now_ms);

    // Enrolment (untimed): subject -> keys, from the proofs themselves.
    let mut enrolled: HashMap<String, Vec<PublicKey>> = HashMap::new();
    for line in &lines {
        let proof = Proof::parse(line, &limits).unwrap();
        let key = PublicKey::from_bytes(proof.public_key()).unwrap();
        enrolled.entry(subject(&proof).to_owned()).or_default().push(key);
    }

    let single_path = || {
        let mut valid = 0usize;
        for line in &lines {
            let Ok(proof) = Proof::parse(line, &limits) else { continue };
            let keys = proof.envelope().subject().and_then(|s| enrolled.get(s)).map(Vec::as_slice).unwrap_or(&[]);
            valid += usize::from(verify(&proof, keys, &policy).is_ok());
        }
        valid
    };
    let batch_path = || {
        let proofs = parse_parallel(&lines, &limits, args.threads);
        let items: Vec<BatchItem<'_>> = proofs
            .iter()
            .map(|p| BatchItem { proof: p, trusted: enrolled.get(subject(p)).map(Vec::as_slice).unwrap_or(&[]) })
            .collect();
        verify_batch(&items, &policy).iter().filter(|r| r.is_ok()).count()
    };
    assert_eq!(batch_path(), n, "every benchmark proof must verify (batch)");
    if args.quick {
        // Only the batch path: for interleaving with the Python candidates round by round.
        let (batch, samples) = time_per(args.rounds, n, batch_path);
        let list = samples.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(",");
        println!(
            "{{\"proofs\":{n},\"rounds\":{},\"batch_ns_per_proof\":{batch:.1},\"batch_samples\":[{list}]}}",
            args.rounds
        );
        return;
    }
    assert_eq!(single_path(), n, "every benchmark proof must verify (single)");

    // Interleave the two headline paths round by round, so machine noise hits both alike.
    let (mut single_samples, mut batch_samples) = (Vec::new(), Vec::new());
    let (mut single_cpu, mut batch_cpu) = (0u64, 0u64);
    std::hint::black_box(single_path());
    std::hint::black_box(batch_path());
    for _ in 0..args.rounds {
        let (t, c) = (Instant::now(), cpu_ns());
        std::hint::black_box(single_path());
        single_samples.push(t.elapsed().as_nanos() as f64 / n as f64);
        single_cpu += cpu_ns().zip(c).map_or(0, |(b, a)| b - a);
        let (t, c) = (Instant::now(), cpu_ns());
        std::hint::black_box(batch_path());
        batch_samples.push(t.elapsed().as_nanos() as f64 / n as f64);
        batch_cpu += cpu_ns().zip(c).map_or(0, |(b, a)| b - a);
    }
    // Mean CPU time per proof over all rounds (10 ms tick resolution, so a mean, not a median).
    let per_proof_cpu = |total: u64| total as f64 / (args.rounds * n) as f64;

    // Phases, single-threaded, ns per proof: the minimum over rounds (the least
    // disturbed), since on a shared machine the median drifts with other load.
    let rounds = args.rounds.clamp(3, 5);
    let mut phases: Vec<(String, f64)> = Vec::new();
    let mut phase = |name: &str, f: &mut dyn FnMut() -> usize| {
        let (_, samples) = time_per(rounds, n, &mut *f);
        phases.push((name.to_owned(), samples.iter().copied().fold(f64::INFINITY, f64::min)));
    };
    phase("json_parse", &mut || lines.iter().map(|l| json::parse(l, &limits).unwrap()).collect::<Vec<Value>>().len());
    phase("proof_parse_total", &mut || {
        lines.iter().map(|l| Proof::parse(l, &limits).unwrap()).collect::<Vec<Proof>>().len()
    });
    let proofs: Vec<Proof> = lines.iter().map(|l| Proof::parse(l, &limits).unwrap()).collect();
    phase("context_clone_and_drop", &mut || proofs.iter().map(|p| p.envelope().context().clone().len()).sum());
    phase("canonicalize_context_with_clone", &mut || {
        proofs.iter().map(|p| canonicalize(&Value::Object(p.envelope().context().clone())).len()).sum()
    });
    phase("sha256_context_and_payload", &mut || {
        proofs
            .iter()
            .map(|p| {
                digest::signed_digest(&p.envelope().signing_payload())[0] as usize
                    + digest::context_digest(p.envelope().canonical_context())[0] as usize
            })
            .sum()
    });
    phase("proof_clone_and_drop", &mut || proofs.clone().len());
    phase("lookup_and_policy", &mut || {
        proofs.iter().filter(|p| check_policy(p, &enrolled[subject(p)], &policy).is_ok()).count()
    });
    phase("key_id", &mut || proofs.iter().map(Proof::key_id).count());
    let prepare = || {
        proofs
            .iter()
            .map(|p| {
                let key = check_policy(p, &enrolled[subject(p)], &policy).unwrap();
                PreparedSignature::new(key, p.envelope().signed_digest(), p.signature()).unwrap()
            })
            .collect::<Vec<_>>()
    };
    phase("prepare_signature", &mut || prepare().len());
    let r_bytes: Vec<[u8; 32]> = proofs.iter().map(|p| p.signature()[..32].try_into().unwrap()).collect();
    phase("prepare_part_decompress_r", &mut || {
        r_bytes.iter().filter(|r| CompressedEdwardsY(**r).decompress().is_some()).count()
    });
    let prepared = prepare();
    let refs: Vec<&PreparedSignature> = prepared.iter().collect();
    phase("single_equation", &mut || refs.iter().filter(|s| s.verify()).count());
    let chunk_sizes: Vec<usize> = vec![32, 64, 128, 256, 512, 1024];
    // Chunk sizes interleaved round by round, so drifting load does not favour one size.
    let mut best = vec![f64::INFINITY; chunk_sizes.len()];
    for _ in 0..=rounds {
        for (size, best) in chunk_sizes.iter().zip(best.iter_mut()) {
            let t = Instant::now();
            assert!(refs.chunks(*size).all(verify_prepared_batch));
            *best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    for (size, ns) in chunk_sizes.iter().zip(best) {
        phases.push((format!("batch_equation_chunk_{size}"), ns));
    }

    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(",");
    let phases_json = phases.iter().map(|(k, ns)| format!("\"{k}\":{ns:.1}")).collect::<Vec<_>>().join(",");
    println!(
        concat!(
            "{{\"proofs\":{},\"rounds\":{},\"threads\":{},\"chunk_range\":[{},{}],",
            "\"single_ns_per_proof\":{:.1},\"batch_ns_per_proof\":{:.1},",
            "\"single_cpu_ns_per_proof\":{:.1},\"batch_cpu_ns_per_proof\":{:.1},",
            "\"single_samples\":[{}],\"batch_samples\":[{}],",
            "\"phases_min_ns_per_proof_1_thread\":{{{}}}}}"
        ),
        n,
        args.rounds,
        args.threads,
        CHUNK_RANGE.0,
        CHUNK_RANGE.1,
        median(single_samples.clone()),
        median(batch_samples.clone()),
        per_proof_cpu(single_cpu),
        per_proof_cpu(batch_cpu),
        list(&single_samples),
        list(&batch_samples),
        phases_json,
    );
}
