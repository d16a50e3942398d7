//! The report's plots as SVG text, drawn with plotters: latency percentiles
//! over time, TPS offered vs achieved, the latency distribution, and the
//! outcomes by code.
//!
//! Guarantees: each function returns a complete `<svg>` element (to inline
//! in HTML) or an error naming the plot; empty data gives an empty but valid
//! plot, never a panic; latency axes are logarithmic so that a 1 s stall and
//! 1 ms answers are both readable.

use plotters::prelude::*;

use super::i18n::{t, Key};
use super::{Lang, Report, SecondReport};
use crate::error::{LoadgenError, Result};

/// A named line of the per-second series.
type SeriesLine<'a> = (&'a str, RGBColor, fn(&super::SecondReport) -> u64);

const W: u32 = 900;
const H: u32 = 340;

fn err(name: &'static str) -> impl Fn(String) -> LoadgenError {
    move |reason| LoadgenError::Plot { name, reason }
}

fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0).max(0.01)
}

fn upper_ms(max_us: u64) -> f64 {
    (ms(max_us) * 1.5).max(1.0)
}

/// The lower end of a log latency axis: the power of ten below the smallest
/// value (at least 10 us), so the plot does not waste its height.
fn lower_ms(min_us: u64) -> f64 {
    let m = ms(min_us);
    10f64.powf(m.log10().floor()).max(0.01)
}

/// Latency p50 / p99 / max per second (log scale) over the seconds in
/// which load was offered, in `lang`.
///
/// # Errors
/// [`LoadgenError::Plot`] (`latency_over_time`) when plotters cannot draw
/// it.
pub fn latency_over_time(r: &Report, lang: Lang) -> Result<String> {
    let e = err("latency_over_time");
    let seconds = load_window(r);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let n = seconds.len().max(1) as f64;
        let top = upper_ms(seconds.iter().map(|s| s.max_us).max().unwrap_or(1000));
        let bottom = lower_ms(
            seconds
                .iter()
                .filter(|s| s.achieved > 0)
                .map(|s| s.p50_us)
                .min()
                .unwrap_or(10),
        )
        .min(top / 10.0);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..n, (bottom..top).log_scale())
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(format!("{} (s)", t(lang, Key::Second)))
            .y_desc(format!("{} (ms)", t(lang, Key::Latency)))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        let lines: [SeriesLine; 3] = [
            ("p50", RGBColor(46, 125, 50), |s| s.p50_us),
            ("p99", RGBColor(230, 120, 0), |s| s.p99_us),
            ("max", RGBColor(198, 40, 40), |s| s.max_us),
        ];
        for (name, color, f) in lines {
            let pts: Vec<(f64, f64)> = seconds
                .iter()
                .filter(|s| s.achieved > 0)
                .map(|s| (s.second as f64 + 0.5, ms(f(s))))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|x| e(x.to_string()))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

/// Offered and achieved requests per second over the seconds in which load
/// was offered, in `lang`.
///
/// # Errors
/// [`LoadgenError::Plot`] (`tps`) when plotters cannot draw it.
pub fn tps(r: &Report, lang: Lang) -> Result<String> {
    let e = err("tps");
    let seconds = load_window(r);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let n = seconds.len().max(1) as f64;
        let top = seconds
            .iter()
            .map(|s| s.offered.max(s.achieved))
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..n, 0f64..top)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(format!("{} (s)", t(lang, Key::Second)))
            .y_desc(t(lang, Key::Tps))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        let offered = RGBColor(120, 120, 120);
        let achieved = RGBColor(21, 101, 192);
        let errs = RGBColor(198, 40, 40);
        let series: [SeriesLine; 3] = [
            (t(lang, Key::Offered), offered, |s| s.offered),
            (t(lang, Key::Achieved), achieved, |s| s.achieved),
            (t(lang, Key::Errors), errs, |s| s.errors),
        ];
        for (name, color, f) in series {
            let pts: Vec<(f64, f64)> = seconds
                .iter()
                .map(|s| (s.second as f64 + 0.5, f(s) as f64))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|x| e(x.to_string()))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

/// Outcome labels come from the target's answers: keep only characters that
/// need no escaping inside SVG text, and cut long ones.
fn safe_label(s: &str) -> String {
    s.chars()
        .take(60)
        .map(|c| {
            if c.is_ascii_alphanumeric() || " ._:+-/()".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn nines(p: f64) -> f64 {
    let q = (1.0 - p / 100.0).max(1e-5);
    -q.log10()
}

/// Latency by percentile, on a "nines" axis (50, 90, 99, 99.9, 99.99),
/// from [`Report::distribution`], in `lang`.
///
/// # Errors
/// [`LoadgenError::Plot`] (`distribution`) when plotters cannot draw it.
pub fn distribution(r: &Report, lang: Lang) -> Result<String> {
    let e = err("distribution");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let top = upper_ms(r.distribution.iter().map(|d| d.1).max().unwrap_or(1000));
        let bottom = lower_ms(r.distribution.first().map(|d| d.1).unwrap_or(10)).min(top / 10.0);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..4.2f64, (bottom..top).log_scale())
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(t(lang, Key::Percentile))
            .y_desc(format!("{} (ms)", t(lang, Key::Latency)))
            .x_labels(6)
            .x_label_formatter(&|x| {
                let p = 100.0 * (1.0 - 10f64.powf(-*x));
                format!("{p:.2}%")
            })
            .draw()
            .map_err(|x| e(x.to_string()))?;
        let pts: Vec<(f64, f64)> = r
            .distribution
            .iter()
            .filter(|(p, _)| *p < 100.0)
            .map(|(p, v)| (nines(*p), ms(*v)))
            .collect();
        let color = RGBColor(106, 27, 154);
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

/// Request counts of the 20 most frequent outcomes (`operation: outcome`,
/// all operations), errors in red, in `lang`; labels keep only characters
/// that need no escaping in SVG.
///
/// # Errors
/// [`LoadgenError::Plot`] (`outcomes`) when plotters cannot draw it.
pub fn outcomes(r: &Report, lang: Lang) -> Result<String> {
    let e = err("outcomes");
    let mut rows: Vec<(String, u64, bool)> = Vec::new();
    for (op, o) in &r.operations {
        for oc in &o.outcomes {
            rows.push((
                safe_label(&format!("{op}: {}", oc.label)),
                oc.count,
                oc.error,
            ));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    rows.truncate(20);
    let h = (60 + 26 * rows.len().max(1)) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let top = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64 * 1.15;
        let n = rows.len().max(1);
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(330)
            .build_cartesian_2d(0f64..top, 0f64..n as f64)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y| {
                let f = y.fract();
                if (f - 0.5).abs() < 1e-6 {
                    let i = n.saturating_sub(1).saturating_sub(y.floor() as usize);
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc(t(lang, Key::Count))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, c, is_err))| {
                let y = (n - 1 - i) as f64;
                let color = if *is_err {
                    RGBColor(198, 40, 40)
                } else {
                    RGBColor(46, 125, 50)
                };
                Rectangle::new([(0.0, y + 0.15), (*c as f64, y + 0.85)], color.filled())
            }))
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

/// The seconds of the series in which load was offered: the trailing seconds
/// after the last intended send (answers draining) are left out of the
/// over-time plots, where they would draw a false cliff. The tables keep them.
fn load_window(r: &Report) -> &[SecondReport] {
    let end = r
        .series
        .iter()
        .rposition(|s| s.offered > 0)
        .map_or(r.series.len(), |i| i + 1);
    &r.series[..end]
}
