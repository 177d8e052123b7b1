//! A small SVG writer for the report's charts: inline `<svg>` elements built as strings, every
//! text escaped, each chart opening with a `<title>` that names it (and bars, cells and points
//! carrying their figures in a `<title>` tooltip).
//!
//! It owns the chart kinds the page needs (horizontal bars, stacked bars, columns, stacked
//! columns, a heatmap, a reliability diagram) and their layout; it knows nothing of speeches.
//! No `xmlns`: inline SVG in HTML needs none, and the page holds no URL at all.

use std::fmt::Write;

use super::html::escape;

/// Width of every chart's drawing area, in px (charts scale down with the page).
pub const WIDTH: f64 = 760.0;
const ROW: f64 = 22.0;
const BAR: f64 = 15.0;

/// A series of a stacked chart: its name and colour.
pub type Series<'a> = (&'a str, &'a str);

/// Ten colours that stay apart for the colour-blind (Okabe-Ito, then Tableau), for topics.
pub const PALETTE: [&str; 12] =
    ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#999999", "#4e79a7", "#b07aa1", "#9c755f", "#76b7b2"];

/// Colours of the stance classes (`pro_powers`, `anti_powers`, `mixed`, `neutral`).
pub const STANCE_COLOURS: [&str; 4] = ["#d55e00", "#0072b2", "#cc79a7", "#999999"];

fn n(x: f64) -> String {
    let s = format!("{x:.1}");
    let s = s.strip_suffix(".0").map(String::from).unwrap_or(s);
    if s == "-0" { "0".into() } else { s }
}

/// An SVG being drawn.
pub struct Svg {
    out: String,
}

impl Svg {
    /// Opens a chart of `width` × `height` whose accessible name (and tooltip) is `title`.
    pub fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut out = String::with_capacity(4096);
        let (w, h) = (n(width), n(height));
        let _ = write!(out, r#"<svg class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><title>{}</title>"#, escape(title));
        Svg { out }
    }

    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, tip: &str) {
        let _ = write!(
            self.out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}"><title>{}</title></rect>"#,
            n(x),
            n(y),
            n(w.max(0.0)),
            n(h.max(0.0)),
            escape(tip)
        );
    }

    /// Text at (x, y); `anchor` is `start`, `middle` or `end`; `class` styles it.
    pub fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, s: &str) {
        let _ = write!(self.out, r#"<text x="{}" y="{}" text-anchor="{anchor}" class="{class}">{}</text>"#, n(x), n(y), escape(s));
    }

    /// Text turned by `angle` degrees around its anchor (`start`: the text begins there).
    pub fn text_turned(&mut self, x: f64, y: f64, angle: f64, anchor: &str, s: &str) {
        let (x, y) = (n(x), n(y));
        let _ = write!(
            self.out,
            r#"<text x="{x}" y="{y}" text-anchor="{anchor}" class="tick" transform="rotate({} {x} {y})">{}</text>"#,
            n(angle),
            escape(s)
        );
    }

    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, class: &str) {
        let _ = write!(self.out, r#"<line x1="{}" y1="{}" x2="{}" y2="{}" class="{class}"/>"#, n(x1), n(y1), n(x2), n(y2));
    }

    pub fn polyline(&mut self, points: &[(f64, f64)], class: &str) {
        let pts: Vec<String> = points.iter().map(|&(x, y)| format!("{},{}", n(x), n(y))).collect();
        let _ = write!(self.out, r#"<polyline points="{}" class="{class}"/>"#, pts.join(" "));
    }

    pub fn circle(&mut self, cx: f64, cy: f64, r: f64, fill: &str, tip: &str) {
        let _ = write!(self.out, r#"<circle cx="{}" cy="{}" r="{}" fill="{fill}"><title>{}</title></circle>"#, n(cx), n(cy), n(r), escape(tip));
    }

    /// A row of coloured squares with the series names, from (x, y).
    pub fn legend(&mut self, x: f64, y: f64, series: &[Series]) {
        let mut at = x;
        for (name, colour) in series {
            let _ = write!(self.out, r#"<rect x="{}" y="{}" width="10" height="10" fill="{colour}"/>"#, n(at), n(y - 9.0));
            self.text(at + 14.0, y, "start", "tick", name);
            at += 14.0 + label_width(name, 6.5) + 14.0;
        }
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// An estimate of a label's width: SVG text cannot be measured ahead.
fn label_width(s: &str, per_char: f64) -> f64 {
    s.chars().count() as f64 * per_char
}

/// A label cut to `max` characters, with an ellipsis (the full label stays in the tooltip).
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// Width of the label column for these labels.
fn label_column(labels: impl Iterator<Item = usize>) -> f64 {
    (labels.max().unwrap_or(4).min(28) as f64 * 7.0 + 12.0).clamp(60.0, 220.0)
}

/// One bar of [`hbars`].
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Printed after the bar.
    pub text: String,
    pub tip: String,
    pub colour: String,
}

/// Horizontal bars, one row each, scaled to `max` (0: to the largest value).
pub fn hbars(title: &str, bars: &[Bar], max: f64) -> String {
    let left = label_column(bars.iter().map(|b| b.label.chars().count()));
    let right = 90.0;
    let plot = WIDTH - left - right;
    let max = if max > 0.0 { max } else { bars.iter().map(|b| b.value).fold(0.0, f64::max).max(f64::MIN_POSITIVE) };
    let mut svg = Svg::new(WIDTH, bars.len() as f64 * ROW + 8.0, title);
    for (i, b) in bars.iter().enumerate() {
        let y = 4.0 + i as f64 * ROW;
        svg.text(left - 6.0, y + BAR - 3.0, "end", "label", &cut(&b.label, 28));
        svg.rect(left, y, plot * (b.value / max).clamp(0.0, 1.0), BAR, &b.colour, &b.tip);
        svg.text(left + plot * (b.value / max).clamp(0.0, 1.0) + 5.0, y + BAR - 3.0, "start", "value", &b.text);
    }
    svg.finish()
}

/// Horizontal bars split by series, each row normalised to 100% of its total; `n=` after it.
pub fn stacked_hbars(title: &str, rows: &[(String, Vec<u64>)], series: &[Series]) -> String {
    let left = label_column(rows.iter().map(|(l, _)| l.chars().count()));
    let right = 70.0;
    let plot = WIDTH - left - right;
    let top = 24.0;
    let mut svg = Svg::new(WIDTH, top + rows.len() as f64 * ROW + 6.0, title);
    svg.legend(left, 12.0, series);
    for (i, (label, counts)) in rows.iter().enumerate() {
        let y = top + i as f64 * ROW;
        let total: u64 = counts.iter().sum();
        svg.text(left - 6.0, y + BAR - 3.0, "end", "label", &cut(label, 28));
        let mut x = left;
        for (k, &c) in counts.iter().enumerate() {
            if c == 0 || total == 0 {
                continue;
            }
            let w = plot * c as f64 / total as f64;
            let (name, colour) = series[k % series.len()];
            svg.rect(x, y, w, BAR, colour, &format!("{label}: {name} {c} of {total} ({})", percent(c as f64 / total as f64)));
            x += w;
        }
        svg.text(left + plot + 6.0, y + BAR - 3.0, "start", "value", &format!("n={total}"));
    }
    svg.finish()
}

/// `0.1234` as `12.3%`.
pub fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Layout of a chart with columns: the plot's box and each column's slot.
struct ColumnBox {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    slot: f64,
}

impl ColumnBox {
    fn new(n_cols: usize, top: f64) -> Self {
        let (left, width, height) = (56.0, WIDTH - 56.0 - 10.0, 170.0);
        ColumnBox { left, top, width, height, slot: width / n_cols.max(1) as f64 }
    }

    fn total_height(&self, turned_labels: bool) -> f64 {
        self.top + self.height + if turned_labels { 62.0 } else { 22.0 }
    }

    fn y(&self, v: f64, lo: f64, hi: f64) -> f64 {
        self.top + self.height * (1.0 - (v - lo) / (hi - lo))
    }

    /// Axis ticks at `ticks` (value, label) and the column labels, thinned to about 16.
    fn axes(&self, svg: &mut Svg, lo: f64, hi: f64, ticks: &[(f64, String)], labels: &[String], turned: bool) {
        for (v, text) in ticks {
            let y = self.y(*v, lo, hi);
            svg.line(self.left, y, self.left + self.width, y, "grid");
            svg.text(self.left - 5.0, y + 4.0, "end", "tick", text);
        }
        let every = labels.len().div_ceil(16).max(1);
        for (i, label) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
            let x = self.left + self.slot * (i as f64 + 0.5);
            let y = self.top + self.height + 14.0;
            if turned {
                svg.text_turned(x + 4.0, y, -40.0, "end", &cut(label, 14));
            } else {
                svg.text(x, y, "middle", "tick", &cut(label, 14));
            }
        }
    }
}

/// One column of [`columns`]: a label, a value (none: an empty slot) and a tooltip.
pub struct Column {
    pub label: String,
    pub value: Option<f64>,
    pub tip: String,
}

/// Vertical columns from zero over [`lo`, `hi`] (which may straddle zero), with `ticks`.
pub fn columns(title: &str, cols: &[Column], lo: f64, hi: f64, ticks: &[(f64, String)], colour: &str) -> String {
    let turned = cols.iter().any(|c| c.label.chars().count() > 4) && cols.len() > 8;
    let b = ColumnBox::new(cols.len(), 10.0);
    let mut svg = Svg::new(WIDTH, b.total_height(turned), title);
    let labels: Vec<String> = cols.iter().map(|c| c.label.clone()).collect();
    b.axes(&mut svg, lo, hi, ticks, &labels, turned);
    let zero = b.y(0.0_f64.clamp(lo, hi), lo, hi);
    for (i, c) in cols.iter().enumerate() {
        let Some(v) = c.value else { continue };
        let y = b.y(v.clamp(lo, hi), lo, hi);
        let x = b.left + b.slot * i as f64 + b.slot * 0.1;
        svg.rect(x, y.min(zero), b.slot * 0.8, (y - zero).abs().max(0.5), colour, &c.tip);
    }
    svg.line(b.left, zero, b.left + b.width, zero, "axis");
    svg.finish()
}

/// Columns stacked by series; with `normalise`, each column is shares of its total.
pub fn stacked_columns(title: &str, cols: &[(String, Vec<u64>)], series: &[Series], normalise: bool) -> String {
    let turned = cols.iter().any(|c| c.0.chars().count() > 4) && cols.len() > 8;
    let b = ColumnBox::new(cols.len(), 28.0);
    let mut svg = Svg::new(WIDTH, b.total_height(turned), title);
    svg.legend(b.left, 12.0, series);
    let hi = if normalise { 1.0 } else { cols.iter().map(|(_, v)| v.iter().sum::<u64>()).max().unwrap_or(0).max(1) as f64 };
    let ticks: Vec<(f64, String)> = if normalise {
        vec![(0.0, "0%".into()), (0.5, "50%".into()), (1.0, "100%".into())]
    } else {
        vec![(0.0, "0".into()), (hi, format!("{hi}"))]
    };
    let labels: Vec<String> = cols.iter().map(|c| c.0.clone()).collect();
    b.axes(&mut svg, 0.0, hi, &ticks, &labels, turned);
    for (i, (label, counts)) in cols.iter().enumerate() {
        let total: u64 = counts.iter().sum();
        let x = b.left + b.slot * i as f64 + b.slot * 0.1;
        let mut acc = 0.0;
        for (k, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let v = if normalise { c as f64 / total as f64 } else { c as f64 };
            let (y0, y1) = (b.y(acc, 0.0, hi), b.y(acc + v, 0.0, hi));
            let (name, colour) = series[k % series.len()];
            svg.rect(x, y1, b.slot * 0.8, y0 - y1, colour, &format!("{label}: {name} {c} of {total} ({})", percent(c as f64 / total as f64)));
            acc += v;
        }
    }
    svg.finish()
}

/// A heatmap: `values[r][c]` shaded from white to blue over [0, `max`], with `text` in the cells;
/// `axes` names the rows and the columns.
pub fn heatmap(title: &str, rows: &[String], cols: &[String], values: &[Vec<f64>], text: &[Vec<String>], max: f64, axes: [&str; 2]) -> String {
    let [row_axis, col_axis] = axes;
    let left = label_column(rows.iter().map(|l| l.chars().count())) + 14.0;
    let cell = ((WIDTH - left - 20.0) / cols.len().max(1) as f64).clamp(14.0, 56.0);
    // Column labels run up and to the right at 45°: their height is about 0.7 of their length.
    let longest = cols.iter().map(|c| c.chars().count().min(25)).max().unwrap_or(0);
    let top = longest as f64 * 6.0 * 0.72 + 30.0;
    let height = top + cell * rows.len() as f64 + 8.0;
    let width = (left + cell * cols.len() as f64 + longest as f64 * 6.0 * 0.72).max(260.0);
    let mut svg = Svg::new(width, height, title);
    svg.text(left, 11.0, "start", "axis-name", col_axis);
    svg.text_turned(12.0, top + cell * rows.len() as f64 / 2.0, -90.0, "middle", row_axis);
    for (c, label) in cols.iter().enumerate() {
        svg.text_turned(left + cell * (c as f64 + 0.5), top - 6.0, -45.0, "start", &cut(label, 24));
    }
    for (r, label) in rows.iter().enumerate() {
        let y = top + cell * r as f64;
        svg.text(left - 6.0, y + cell / 2.0 + 4.0, "end", "label", &cut(label, 28));
        for c in 0..cols.len() {
            let v = values[r][c];
            let t = if max > 0.0 { (v / max).clamp(0.0, 1.0) } else { 0.0 };
            svg.rect(left + cell * c as f64, y, cell - 1.0, cell - 1.0, &shade(t), &format!("{} × {}: {}", rows[r], cols[c], text[r][c]));
            if cell >= 24.0 {
                let class = if t > 0.55 { "cell light" } else { "cell" };
                svg.text(left + cell * (c as f64 + 0.5), y + cell / 2.0 + 4.0, "middle", class, &text[r][c]);
            }
        }
    }
    svg.finish()
}

/// White (0) to dark blue (1).
fn shade(t: f64) -> String {
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(255.0, 8.0), mix(255.0, 69.0), mix(255.0, 148.0))
}

/// A reliability diagram: predicted probability against observed frequency per bin (points
/// sized by count), with the diagonal of perfect calibration.
pub fn reliability(title: &str, bins: &[(f64, f64, usize)]) -> String {
    let (left, top, side) = (56.0, 12.0, 300.0);
    let mut svg = Svg::new(left + side + 190.0, top + side + 40.0, title);
    let x = |p: f64| left + side * p;
    let y = |p: f64| top + side * (1.0 - p);
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        svg.line(x(0.0), y(t), x(1.0), y(t), "grid");
        svg.line(x(t), y(0.0), x(t), y(1.0), "grid");
        svg.text(x(0.0) - 5.0, y(t) + 4.0, "end", "tick", &format!("{t}"));
        svg.text(x(t), y(0.0) + 15.0, "middle", "tick", &format!("{t}"));
    }
    svg.line(x(0.0), y(0.0), x(1.0), y(1.0), "diagonal");
    svg.text(x(0.5), y(0.0) + 32.0, "middle", "axis-name", "predicted on_topic (bin mean)");
    svg.text_turned(14.0, y(0.5), -90.0, "middle", "observed on topic (gold)");
    let points: Vec<(f64, f64)> = bins.iter().map(|&(p, o, _)| (x(p), y(o))).collect();
    svg.polyline(&points, "curve");
    let most = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64;
    for &(p, o, count) in bins {
        let r = 3.0 + 6.0 * (count as f64 / most).sqrt();
        svg.circle(x(p), y(o), r, PALETTE[0], &format!("predicted {p:.3}, observed {o:.3}, {count} speeches"));
    }
    svg.text(left + side + 16.0, top + 14.0, "start", "tick", "— perfect calibration");
    svg.text(left + side + 16.0, top + 32.0, "start", "tick", "● a bin (size: speeches)");
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_opens_with_its_title_and_escapes_every_text() {
        let bars = [Bar { label: "<b>&".into(), value: 2.0, text: "2".into(), tip: "\"x\" 'y'".into(), colour: PALETTE[0].into() }];
        let svg = hbars("Topics <by> count", &bars, 0.0);
        assert!(svg.starts_with("<svg class=\"chart\" role=\"img\" viewBox=\"0 0 760 "), "{svg}");
        assert!(svg.contains("<title>Topics &lt;by&gt; count</title>"));
        assert!(svg.contains("&lt;b&gt;&amp;") && svg.contains("&quot;x&quot; &#39;y&#39;"));
        assert!(!svg.contains("<b>") && !svg.contains("xmlns") && svg.ends_with("</svg>"));
    }

    #[test]
    fn numbers_are_short_and_shades_run_white_to_blue() {
        assert_eq!((n(3.0), n(2.25), n(-0.04)), ("3".to_string(), "2.2".to_string(), "0".to_string()));
        assert_eq!(shade(0.0), "#ffffff");
        assert_eq!(shade(1.0), "#084594");
        assert_eq!(cut("abcdef", 3), "abc…");
    }

    #[test]
    fn stacked_bars_have_one_rect_per_nonzero_part() {
        let rows = vec![("encryption".to_string(), vec![3, 0, 1, 0])];
        let series: Vec<Series> = ["a", "b", "c", "d"].iter().zip(STANCE_COLOURS).map(|(a, c)| (*a, c)).collect();
        let svg = stacked_hbars("Stance", &rows, &series);
        assert_eq!(svg.matches("<rect").count(), 4 + 2, "four legend squares, two parts");
        assert!(svg.contains("encryption: a 3 of 4 (75.0%)"));
    }
}
