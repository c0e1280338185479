//! Renders a model JSON file: `cargo run -p docwright-render --example render_file -- doc.json pdf out/`.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // A developer's tool: fails loudly, prints what it wrote.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let doc = docwright_render::model::Document::from_json_str(&std::fs::read_to_string(&args[1]).unwrap()).unwrap();
    let format = docwright_render::Format::from_extension(&args[2]).unwrap();
    for file in docwright_render::render(&doc, format, &docwright_render::Options::default()).unwrap() {
        let path = std::path::Path::new(&args[3]).join(&file.filename);
        std::fs::write(&path, &file.bytes).unwrap();
        println!("{}", path.display());
    }
}
