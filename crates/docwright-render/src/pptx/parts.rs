//! The fixed parts of every PPTX: our own minimal theme, slide master, two layouts (title;
//! title and content), notes master, and the package plumbing. Written by hand from the
//! PresentationML schema (ECMA-376 Part 1, §19) with only what PowerPoint, LibreOffice and
//! python-pptx need; the slides themselves are written by `pptx`.

pub(super) const NS: &str = "xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" \
xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\" \
xmlns:p=\"http://schemas.openxmlformats.org/presentationml/2006/main\"";

pub(super) const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";

pub(super) const REL_NS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
pub(super) const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// 16:9 in EMU.
pub(super) const SLIDE_W: i64 = 12_192_000;
pub(super) const SLIDE_H: i64 = 6_858_000;

/// Title and body boxes of the content layout (EMU).
pub(super) const TITLE_BOX: (i64, i64, i64, i64) = (457_200, 274_638, 11_277_600, 1_005_840);
pub(super) const BODY_BOX: (i64, i64, i64, i64) = (457_200, 1_463_040, 11_277_600, 4_800_600);

pub(super) fn theme(name: &str) -> String {
    format!(
        "{XML_HEAD}<a:theme xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" name=\"{name}\">\
<a:themeElements>\
<a:clrScheme name=\"docwright\">\
<a:dk1><a:sysClr val=\"windowText\" lastClr=\"000000\"/></a:dk1><a:lt1><a:sysClr val=\"window\" lastClr=\"FFFFFF\"/></a:lt1>\
<a:dk2><a:srgbClr val=\"1F3864\"/></a:dk2><a:lt2><a:srgbClr val=\"E7ECF2\"/></a:lt2>\
<a:accent1><a:srgbClr val=\"2F5597\"/></a:accent1><a:accent2><a:srgbClr val=\"C55A11\"/></a:accent2>\
<a:accent3><a:srgbClr val=\"7F7F7F\"/></a:accent3><a:accent4><a:srgbClr val=\"BF9000\"/></a:accent4>\
<a:accent5><a:srgbClr val=\"2E75B6\"/></a:accent5><a:accent6><a:srgbClr val=\"548235\"/></a:accent6>\
<a:hlink><a:srgbClr val=\"0563C1\"/></a:hlink><a:folHlink><a:srgbClr val=\"954F72\"/></a:folHlink>\
</a:clrScheme>\
<a:fontScheme name=\"docwright\">\
<a:majorFont><a:latin typeface=\"Calibri Light\"/><a:ea typeface=\"\"/><a:cs typeface=\"\"/></a:majorFont>\
<a:minorFont><a:latin typeface=\"Calibri\"/><a:ea typeface=\"\"/><a:cs typeface=\"\"/></a:minorFont>\
</a:fontScheme>\
<a:fmtScheme name=\"docwright\">\
<a:fillStyleLst><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill></a:fillStyleLst>\
<a:lnStyleLst><a:ln w=\"6350\"><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill></a:ln><a:ln w=\"12700\"><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill></a:ln><a:ln w=\"19050\"><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill></a:ln></a:lnStyleLst>\
<a:effectStyleLst><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle></a:effectStyleLst>\
<a:bgFillStyleLst><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill><a:solidFill><a:schemeClr val=\"phClr\"/></a:solidFill></a:bgFillStyleLst>\
</a:fmtScheme>\
</a:themeElements><a:objectDefaults/><a:extraClrSchemeLst/></a:theme>"
    )
}

fn sp_tree_head() -> &'static str {
    "<p:nvGrpSpPr><p:cNvPr id=\"1\" name=\"\"/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>\
<p:grpSpPr><a:xfrm><a:off x=\"0\" y=\"0\"/><a:ext cx=\"0\" cy=\"0\"/><a:chOff x=\"0\" y=\"0\"/><a:chExt cx=\"0\" cy=\"0\"/></a:xfrm></p:grpSpPr>"
}

/// A placeholder shape of a master or layout, positioned, with an empty body.
fn placeholder(id: u32, name: &str, ph: &str, box_: (i64, i64, i64, i64), anchor: &str) -> String {
    styled_placeholder(id, name, ph, box_, anchor, "")
}

fn styled_placeholder(
    id: u32,
    name: &str,
    ph: &str,
    (x, y, w, h): (i64, i64, i64, i64),
    anchor: &str,
    style: &str,
) -> String {
    format!(
        "<p:sp><p:nvSpPr><p:cNvPr id=\"{id}\" name=\"{name}\"/><p:cNvSpPr><a:spLocks noGrp=\"1\"/></p:cNvSpPr><p:nvPr>{ph}</p:nvPr></p:nvSpPr>\
<p:spPr><a:xfrm><a:off x=\"{x}\" y=\"{y}\"/><a:ext cx=\"{w}\" cy=\"{h}\"/></a:xfrm><a:prstGeom prst=\"rect\"><a:avLst/></a:prstGeom></p:spPr>\
<p:txBody><a:bodyPr anchor=\"{anchor}\"><a:normAutofit/></a:bodyPr><a:lstStyle>{style}</a:lstStyle><a:p><a:endParaRPr lang=\"en-US\"/></a:p></p:txBody></p:sp>"
    )
}

fn level_style(level: u8, size: u32, bullet: &str) -> String {
    let indent = 285_750 + i64::from(level) * 457_200;
    format!(
        "<a:lvl{n}pPr marL=\"{indent}\" indent=\"-285750\"><a:spcBef><a:spcPts val=\"600\"/></a:spcBef>\
<a:buFont typeface=\"Arial\"/><a:buChar char=\"{bullet}\"/><a:defRPr sz=\"{size}\"><a:solidFill><a:schemeClr val=\"tx1\"/></a:solidFill><a:latin typeface=\"+mn-lt\"/></a:defRPr></a:lvl{n}pPr>",
        n = level + 1
    )
}

pub(super) fn slide_master() -> String {
    let title = placeholder(2, "Title Placeholder", "<p:ph type=\"title\"/>", TITLE_BOX, "b");
    let body = placeholder(3, "Text Placeholder", "<p:ph type=\"body\" idx=\"1\"/>", BODY_BOX, "t");
    let levels: String = [(0, 2000, "•"), (1, 1800, "–"), (2, 1600, "•"), (3, 1400, "–"), (4, 1400, "•")]
        .iter()
        .map(|&(l, s, b)| level_style(l, s, b))
        .collect();
    format!(
        "{XML_HEAD}<p:sldMaster {NS}><p:cSld><p:bg><p:bgRef idx=\"1001\"><a:schemeClr val=\"bg1\"/></p:bgRef></p:bg><p:spTree>{}{title}{body}\
<p:sp><p:nvSpPr><p:cNvPr id=\"4\" name=\"Accent\"/><p:cNvSpPr/><p:nvPr userDrawn=\"1\"/></p:nvSpPr>\
<p:spPr><a:xfrm><a:off x=\"457200\" y=\"1325880\"/><a:ext cx=\"11277600\" cy=\"27432\"/></a:xfrm><a:prstGeom prst=\"rect\"><a:avLst/></a:prstGeom>\
<a:solidFill><a:schemeClr val=\"accent1\"/></a:solidFill><a:ln><a:noFill/></a:ln></p:spPr></p:sp>\
</p:spTree></p:cSld>\
<p:clrMap bg1=\"lt1\" tx1=\"dk1\" bg2=\"lt2\" tx2=\"dk2\" accent1=\"accent1\" accent2=\"accent2\" accent3=\"accent3\" accent4=\"accent4\" accent5=\"accent5\" accent6=\"accent6\" hlink=\"hlink\" folHlink=\"folHlink\"/>\
<p:sldLayoutIdLst><p:sldLayoutId id=\"2147483649\" r:id=\"rId1\"/><p:sldLayoutId id=\"2147483650\" r:id=\"rId2\"/></p:sldLayoutIdLst>\
<p:txStyles>\
<p:titleStyle><a:lvl1pPr algn=\"l\"><a:defRPr sz=\"3200\" b=\"1\"><a:solidFill><a:schemeClr val=\"tx2\"/></a:solidFill><a:latin typeface=\"+mj-lt\"/></a:defRPr></a:lvl1pPr></p:titleStyle>\
<p:bodyStyle>{levels}</p:bodyStyle>\
<p:otherStyle><a:lvl1pPr><a:defRPr sz=\"1800\"><a:solidFill><a:schemeClr val=\"tx1\"/></a:solidFill></a:defRPr></a:lvl1pPr></p:otherStyle>\
</p:txStyles></p:sldMaster>",
        sp_tree_head()
    )
}

pub(super) fn master_rels() -> String {
    rels(&[
        ("rId1", "slideLayout", "../slideLayouts/slideLayout1.xml"),
        ("rId2", "slideLayout", "../slideLayouts/slideLayout2.xml"),
        ("rId3", "theme", "../theme/theme1.xml"),
    ])
}

/// Layout 1: the title slide. Layout 2: title and content.
pub(super) fn slide_layout(n: u32) -> String {
    // The title slide hides the master's accent rule and centres its title and a plain subtitle.
    let (kind, name, extra, shapes) = if n == 1 {
        let title_style = "<a:lvl1pPr algn=\"ctr\"><a:defRPr sz=\"4000\"/></a:lvl1pPr>";
        let subtitle_style = "<a:lvl1pPr marL=\"0\" indent=\"0\" algn=\"ctr\"><a:buNone/><a:defRPr sz=\"2000\">\
<a:solidFill><a:schemeClr val=\"tx2\"/></a:solidFill></a:defRPr></a:lvl1pPr>";
        (
            "title",
            "Title Slide",
            " showMasterSp=\"0\"",
            styled_placeholder(
                2,
                "Title 1",
                "<p:ph type=\"ctrTitle\"/>",
                (914_400, 2_130_425, 10_363_200, 1_470_025),
                "b",
                title_style,
            ) + &styled_placeholder(
                3,
                "Subtitle 2",
                "<p:ph type=\"subTitle\" idx=\"1\"/>",
                (1_828_800, 3_886_200, 8_534_400, 1_752_600),
                "t",
                subtitle_style,
            ),
        )
    } else {
        (
            "obj",
            "Title and Content",
            "",
            placeholder(2, "Title 1", "<p:ph type=\"title\"/>", TITLE_BOX, "b")
                + &placeholder(3, "Content Placeholder 2", "<p:ph idx=\"1\"/>", BODY_BOX, "t"),
        )
    };
    format!(
        "{XML_HEAD}<p:sldLayout {NS} type=\"{kind}\" preserve=\"1\"{extra}><p:cSld name=\"{name}\"><p:spTree>{}{shapes}</p:spTree></p:cSld>\
<p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>",
        sp_tree_head()
    )
}

pub(super) fn layout_rels() -> String {
    rels(&[("rId1", "slideMaster", "../slideMasters/slideMaster1.xml")])
}

pub(super) fn notes_master() -> String {
    let image = "<p:sp><p:nvSpPr><p:cNvPr id=\"2\" name=\"Slide Image Placeholder 1\"/><p:cNvSpPr><a:spLocks noGrp=\"1\" noRot=\"1\" noChangeAspect=\"1\"/></p:cNvSpPr>\
<p:nvPr><p:ph type=\"sldImg\" idx=\"2\"/></p:nvPr></p:nvSpPr><p:spPr><a:xfrm><a:off x=\"381000\" y=\"685800\"/><a:ext cx=\"6096000\" cy=\"3429000\"/></a:xfrm>\
<a:prstGeom prst=\"rect\"><a:avLst/></a:prstGeom><a:noFill/><a:ln w=\"12700\"><a:solidFill><a:prstClr val=\"black\"/></a:solidFill></a:ln></p:spPr></p:sp>";
    let body = placeholder(
        3,
        "Notes Placeholder 2",
        "<p:ph type=\"body\" sz=\"quarter\" idx=\"3\"/>",
        (685_800, 4_343_400, 5_486_400, 4_114_800),
        "t",
    );
    format!(
        "{XML_HEAD}<p:notesMaster {NS}><p:cSld><p:spTree>{}{image}{body}</p:spTree></p:cSld>\
<p:clrMap bg1=\"lt1\" tx1=\"dk1\" bg2=\"lt2\" tx2=\"dk2\" accent1=\"accent1\" accent2=\"accent2\" accent3=\"accent3\" accent4=\"accent4\" accent5=\"accent5\" accent6=\"accent6\" hlink=\"hlink\" folHlink=\"folHlink\"/>\
<p:notesStyle><a:lvl1pPr><a:defRPr sz=\"1200\"><a:solidFill><a:schemeClr val=\"tx1\"/></a:solidFill><a:latin typeface=\"+mn-lt\"/></a:defRPr></a:lvl1pPr></p:notesStyle></p:notesMaster>",
        sp_tree_head()
    )
}

pub(super) fn notes_master_rels() -> String {
    rels(&[("rId1", "theme", "../theme/theme2.xml")])
}

/// The notes of slide `n`.
pub(super) fn notes_slide(body: &str) -> String {
    format!(
        "{XML_HEAD}<p:notes {NS}><p:cSld><p:spTree>{}\
<p:sp><p:nvSpPr><p:cNvPr id=\"2\" name=\"Slide Image Placeholder 1\"/><p:cNvSpPr><a:spLocks noGrp=\"1\" noRot=\"1\" noChangeAspect=\"1\"/></p:cNvSpPr><p:nvPr><p:ph type=\"sldImg\"/></p:nvPr></p:nvSpPr><p:spPr/></p:sp>\
<p:sp><p:nvSpPr><p:cNvPr id=\"3\" name=\"Notes Placeholder 2\"/><p:cNvSpPr><a:spLocks noGrp=\"1\"/></p:cNvSpPr><p:nvPr><p:ph type=\"body\" idx=\"1\"/></p:nvPr></p:nvSpPr><p:spPr/>\
<p:txBody><a:bodyPr/><a:lstStyle/>{body}</p:txBody></p:sp></p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:notes>",
        sp_tree_head()
    )
}

pub(super) fn notes_rels(slide: usize) -> String {
    rels(&[
        ("rId1", "notesMaster", "../notesMasters/notesMaster1.xml"),
        ("rId2", "slide", &format!("../slides/slide{slide}.xml")),
    ])
}

pub(super) fn rels(items: &[(&str, &str, &str)]) -> String {
    let mut xml = format!("{XML_HEAD}<Relationships xmlns=\"{REL_NS}\">");
    for (id, kind, target) in items {
        xml.push_str(&format!("<Relationship Id=\"{id}\" Type=\"{REL}/{kind}\" Target=\"{target}\"/>"));
    }
    xml.push_str("</Relationships>");
    xml
}

pub(super) fn root_rels() -> String {
    format!(
        "{XML_HEAD}<Relationships xmlns=\"{REL_NS}\">\
<Relationship Id=\"rId1\" Type=\"{REL}/officeDocument\" Target=\"ppt/presentation.xml\"/>\
<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>\
<Relationship Id=\"rId3\" Type=\"{REL}/extended-properties\" Target=\"docProps/app.xml\"/>\
</Relationships>"
    )
}

pub(super) fn app_xml(slides: usize) -> String {
    format!(
        "{XML_HEAD}<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\" \
xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\"><Application>docwright</Application>\
<Slides>{slides}</Slides><Notes>{slides}</Notes><PresentationFormat>Widescreen</PresentationFormat></Properties>"
    )
}

pub(super) fn pres_props() -> String {
    format!("{XML_HEAD}<p:presentationPr {NS}/>")
}

pub(super) fn view_props() -> String {
    format!(
        "{XML_HEAD}<p:viewPr {NS}><p:normalViewPr><p:restoredLeft sz=\"15620\"/><p:restoredTop sz=\"94660\"/></p:normalViewPr><p:gridSpacing cx=\"76200\" cy=\"76200\"/></p:viewPr>"
    )
}

pub(super) fn table_styles() -> String {
    format!(
        "{XML_HEAD}<a:tblStyleLst xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" def=\"{{5C22544A-7EE6-4342-B048-85BDC9FD1C3A}}\"/>"
    )
}

pub(super) fn content_types(slides: usize) -> String {
    let mut xml = format!(
        "{XML_HEAD}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Default Extension=\"png\" ContentType=\"image/png\"/><Default Extension=\"jpeg\" ContentType=\"image/jpeg\"/><Default Extension=\"gif\" ContentType=\"image/gif\"/>\
<Override PartName=\"/ppt/presentation.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml\"/>\
<Override PartName=\"/ppt/slideMasters/slideMaster1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.slideMaster+xml\"/>\
<Override PartName=\"/ppt/slideLayouts/slideLayout1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.slideLayout+xml\"/>\
<Override PartName=\"/ppt/slideLayouts/slideLayout2.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.slideLayout+xml\"/>\
<Override PartName=\"/ppt/notesMasters/notesMaster1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.notesMaster+xml\"/>\
<Override PartName=\"/ppt/theme/theme1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.theme+xml\"/>\
<Override PartName=\"/ppt/theme/theme2.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.theme+xml\"/>\
<Override PartName=\"/ppt/presProps.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.presProps+xml\"/>\
<Override PartName=\"/ppt/viewProps.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.viewProps+xml\"/>\
<Override PartName=\"/ppt/tableStyles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.tableStyles+xml\"/>\
<Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>\
<Override PartName=\"/docProps/app.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.extended-properties+xml\"/>"
    );
    for n in 1..=slides {
        xml.push_str(&format!(
            "<Override PartName=\"/ppt/slides/slide{n}.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.slide+xml\"/>\
<Override PartName=\"/ppt/notesSlides/notesSlide{n}.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.presentationml.notesSlide+xml\"/>"
        ));
    }
    xml.push_str("</Types>");
    xml
}

pub(super) fn presentation(slides: usize) -> String {
    let mut ids = String::new();
    for n in 1..=slides {
        ids.push_str(&format!("<p:sldId id=\"{}\" r:id=\"rId{}\"/>", 255 + n, n + 10));
    }
    format!(
        "{XML_HEAD}<p:presentation {NS} saveSubsetFonts=\"1\">\
<p:sldMasterIdLst><p:sldMasterId id=\"2147483648\" r:id=\"rId1\"/></p:sldMasterIdLst>\
<p:notesMasterIdLst><p:notesMasterId r:id=\"rId2\"/></p:notesMasterIdLst>\
<p:sldIdLst>{ids}</p:sldIdLst>\
<p:sldSz cx=\"{SLIDE_W}\" cy=\"{SLIDE_H}\"/><p:notesSz cx=\"6858000\" cy=\"9144000\"/>\
<p:defaultTextStyle><a:lvl1pPr><a:defRPr sz=\"1800\"/></a:lvl1pPr></p:defaultTextStyle></p:presentation>"
    )
}

pub(super) fn presentation_rels(slides: usize) -> String {
    let mut items: Vec<(String, &str, String)> = vec![
        ("rId1".into(), "slideMaster", "slideMasters/slideMaster1.xml".into()),
        ("rId2".into(), "notesMaster", "notesMasters/notesMaster1.xml".into()),
        ("rId3".into(), "theme", "theme/theme1.xml".into()),
        ("rId4".into(), "presProps", "presProps.xml".into()),
        ("rId5".into(), "viewProps", "viewProps.xml".into()),
        ("rId6".into(), "tableStyles", "tableStyles.xml".into()),
    ];
    for n in 1..=slides {
        items.push((format!("rId{}", n + 10), "slide", format!("slides/slide{n}.xml")));
    }
    let borrowed: Vec<(&str, &str, &str)> = items.iter().map(|(a, b, c)| (a.as_str(), *b, c.as_str())).collect();
    rels(&borrowed)
}
