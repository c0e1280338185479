use docwright_render::{Format, Options, render};

#[test]
fn write_samples() {
    let doc = crate::fixtures::sample();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/render-samples");
    std::fs::create_dir_all(&dir).unwrap();
    for format in Format::ALL {
        let t = std::time::Instant::now();
        match render(&doc, format, &Options::default()) {
            Ok(files) => {
                for f in files {
                    std::fs::write(dir.join(&f.filename), &f.bytes).unwrap();
                    println!("{format:?} {} {} bytes {:?}", f.filename, f.bytes.len(), t.elapsed());
                }
            }
            Err(e) => println!("{format:?} failed: {e}"),
        }
    }
}
