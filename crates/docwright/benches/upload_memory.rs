//! SPEC N5 / D1: uploads and downloads stream in constant memory. Starts the release
//! `docwright serve` on its embedded defaults, uploads 1 GiB (generated on the fly, never held
//! by this client either), downloads it back, and prints the server's resident memory before,
//! its peak during each transfer (sampled every 10 ms from /proc) and the rise.
//!
//! `cargo bench -p docwright --bench upload_memory` (set `UPLOAD_MIB` for another size).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

const BIN: &str = env!("CARGO_BIN_EXE_docwright");
const TOKEN: &str = "upload-bench-admin-token-0123456789";
const CHUNK: usize = 256 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Samples the RSS of `pid` until stopped; returns the peak.
fn sampler(pid: u32) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut peak = 0;
        while !flag.load(Ordering::Relaxed) {
            peak = peak.max(rss_kib(pid));
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    });
    (stop, handle)
}

fn main() {
    let mib: u64 = std::env::var("UPLOAD_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let size = mib << 20;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env("DOCWRIGHT_SERVER__BIND", "127.0.0.1:0")
        .env("DOCWRIGHT_LOG__FORMAT", "json")
        .env("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", TOKEN)
        .env("DOCWRIGHT_STORAGE__MAX_UPLOAD_BYTES", (size + (1 << 20)).to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start docwright (build it: cargo bench builds the binary)");
    let pid = child.id();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("docwright exited").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "docwright listening" {
            break v["addr"].as_str().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let c = reqwest::Client::new();
        let pair: serde_json::Value = c
            .post(format!("http://{addr}/auth/exchange"))
            .json(&serde_json::json!({"static_token": TOKEN}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = pair["access_token"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = rss_kib(pid);

        // Upload: a stream of distinct chunks (so nothing compresses or dedupes away).
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let chunks = futures_util::stream::iter(0..size.div_ceil(CHUNK as u64)).map(move |i| {
            let len = CHUNK.min((size - i * CHUNK as u64) as usize);
            let mut chunk = vec![(i % 251) as u8; len];
            chunk[..8].copy_from_slice(&i.to_le_bytes());
            counter.fetch_add(len as u64, Ordering::Relaxed);
            Ok::<_, std::io::Error>(chunk)
        });
        let part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(chunks), size).file_name("big.bin");
        let form = reqwest::multipart::Form::new().part("file", part);
        let (stop, handle) = sampler(pid);
        let started = Instant::now();
        let resp =
            c.post(format!("http://{addr}/files/upload")).bearer_auth(&access).multipart(form).send().await.unwrap();
        let up_secs = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let up_peak = handle.join().unwrap();
        assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().await.unwrap());
        let file: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(file["file_size"].as_u64(), Some(size));

        // Download it back, counting bytes as they stream.
        let (stop, handle) = sampler(pid);
        let started = Instant::now();
        let id = file["id"].as_str().unwrap();
        let resp = c.get(format!("http://{addr}/files/{id}/content")).bearer_auth(&access).send().await.unwrap();
        let mut stream = resp.bytes_stream();
        let mut got = 0u64;
        while let Some(b) = stream.next().await {
            got += b.unwrap().len() as u64;
        }
        let down_secs = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let down_peak = handle.join().unwrap();
        assert_eq!(got, size);

        let mib_f = |kib: u64| kib as f64 / 1024.0;
        println!("upload/download of {mib} MiB through docwright serve (release, SQLite, local blobs)");
        println!("  server RSS before:        {:8.1} MiB", mib_f(before));
        println!(
            "  upload:   peak RSS {:8.1} MiB (+{:.1} MiB), {:.1} s, {:.0} MiB/s",
            mib_f(up_peak),
            mib_f(up_peak.saturating_sub(before)),
            up_secs,
            mib as f64 / up_secs
        );
        println!(
            "  download: peak RSS {:8.1} MiB (+{:.1} MiB), {:.1} s, {:.0} MiB/s",
            mib_f(down_peak),
            mib_f(down_peak.saturating_sub(before)),
            down_secs,
            mib as f64 / down_secs
        );
        println!("  target (SPEC N5): a rise of a few MiB, independent of the file's size");
    });
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let _ = child.wait();
}
