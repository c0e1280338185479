//! Images checked before any format shows them: decoded once within [`Options`]'s pixel and
//! byte limits (so bytes that are not an image, or a truncated one, become a notice instead of a
//! file a viewer must repair), sized, and kept as PNG, JPEG or GIF — the formats every target
//! reads. Anything else (WebP, TIFF, BMP) is re-encoded as PNG.

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

use crate::Options;
use crate::model::Image;

/// An image ready to be embedded.
#[derive(Debug, Clone)]
pub(crate) struct Picture {
    pub(crate) bytes: Vec<u8>,
    pub(crate) kind: Kind,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Png,
    Jpeg,
    Gif,
}

impl Kind {
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Gif => "gif",
        }
    }

    pub(crate) fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
        }
    }
}

/// Counts the images of one document against [`Options::max_images`].
pub(crate) struct Pictures<'o> {
    options: &'o Options,
    seen: usize,
}

impl<'o> Pictures<'o> {
    pub(crate) fn new(options: &'o Options) -> Self {
        Self { options, seen: 0 }
    }

    /// The image ready to embed, or why it cannot be shown (for the notice).
    pub(crate) fn prepare(&mut self, image: &Image) -> Result<Picture, String> {
        self.seen += 1;
        if self.seen > self.options.max_images {
            return Err(format!("the document has more than {} images", self.options.max_images));
        }
        prepare(image, self.options)
    }
}

fn prepare(image: &Image, options: &Options) -> Result<Picture, String> {
    if image.bytes.is_empty() {
        return Err("no image data".to_owned());
    }
    if image.bytes.len() > options.max_image_bytes {
        return Err(format!("larger than {} bytes", options.max_image_bytes));
    }
    let reader = ImageReader::new(Cursor::new(&image.bytes))
        .with_guessed_format()
        .map_err(|_| "the data is not an image".to_owned())?;
    let format = reader.format().ok_or_else(|| "the data is not an image".to_owned())?;
    let kind = match format {
        ImageFormat::Png => Some(Kind::Png),
        ImageFormat::Jpeg => Some(Kind::Jpeg),
        ImageFormat::Gif => Some(Kind::Gif),
        _ => None,
    };
    let (width, height) = reader.into_dimensions().map_err(|_| "the image cannot be read".to_owned())?;
    if width == 0 || height == 0 {
        return Err("the image is empty".to_owned());
    }
    if u64::from(width) * u64::from(height) > options.max_image_pixels {
        return Err(format!("{width}×{height} pixels, more than the limit of {}", options.max_image_pixels));
    }
    // Decoding the whole image is what proves it is not truncated or corrupt.
    let mut reader = ImageReader::new(Cursor::new(&image.bytes))
        .with_guessed_format()
        .map_err(|_| "the data is not an image".to_owned())?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(options.max_image_pixels.saturating_mul(8));
    reader.limits(limits);
    let decoded = reader.decode().map_err(|_| "the image data is damaged".to_owned())?;
    match kind {
        Some(kind) => Ok(Picture { bytes: image.bytes.clone(), kind, width, height }),
        None => {
            let mut png = Vec::new();
            decoded
                .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
                .map_err(|_| "the image cannot be converted".to_owned())?;
            Ok(Picture { bytes: png, kind: Kind::Png, width, height })
        }
    }
}

/// Width and height that fit `width`×`height` into `max_w`×`max_h`, keeping the aspect ratio
/// and never enlarging beyond `natural_scale` units per pixel.
pub(crate) fn fit(width: u32, height: u32, natural_scale: f64, max_w: f64, max_h: f64) -> (f64, f64) {
    let (w, h) = (f64::from(width) * natural_scale, f64::from(height) * natural_scale);
    let scale = (max_w / w).min(max_h / h).min(1.0);
    (w * scale, h * scale)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small PNG made in code: a gradient, `width`×`height`.
    pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 255 / width.max(1)) as u8, (y * 255 / height.max(1)) as u8, 160])
        });
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    fn image(bytes: Vec<u8>) -> Image {
        Image { bytes, ..Image::default() }
    }

    #[test]
    fn images_are_checked_and_sized() {
        let options = Options::default();
        let ok = prepare(&image(png(40, 20)), &options).unwrap();
        assert_eq!((ok.kind, ok.width, ok.height), (Kind::Png, 40, 20));
        assert!(prepare(&image(b"not an image at all".to_vec()), &options).is_err());
        assert!(prepare(&image(Vec::new()), &options).is_err());
        let mut truncated = png(300, 300);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(prepare(&image(truncated), &options).unwrap_err(), "the image data is damaged");
        let small = Options { max_image_pixels: 100, ..Options::default() };
        assert!(prepare(&image(png(40, 20)), &small).unwrap_err().contains("pixels"));
        // BMP is re-encoded as PNG.
        let mut bmp = Vec::new();
        image::RgbImage::new(3, 2).write_to(&mut Cursor::new(&mut bmp), ImageFormat::Bmp).unwrap();
        let converted = prepare(&image(bmp), &options).unwrap();
        assert_eq!((converted.kind, converted.width), (Kind::Png, 3));
        assert!(converted.bytes.starts_with(b"\x89PNG"));
    }

    #[test]
    fn the_image_count_is_bounded() {
        let options = Options { max_images: 1, ..Options::default() };
        let mut pictures = Pictures::new(&options);
        assert!(pictures.prepare(&image(png(2, 2))).is_ok());
        assert!(pictures.prepare(&image(png(2, 2))).unwrap_err().contains("more than 1 images"));
    }

    #[test]
    fn fitting_keeps_the_aspect_ratio() {
        assert_eq!(fit(200, 100, 1.0, 100.0, 100.0), (100.0, 50.0));
        assert_eq!(fit(50, 100, 1.0, 100.0, 100.0), (50.0, 100.0));
        assert_eq!(fit(100, 400, 1.0, 100.0, 100.0), (25.0, 100.0));
    }
}
