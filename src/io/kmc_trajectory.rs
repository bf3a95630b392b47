//! kMC carrier trajectories (`kmc_trajectory_<i>.csv`, "mdrun kmc trajectory v1"): written by the kMC stage
//! (`src/kmc/output.rs`), read by the analysis (`src/analysis/trajectory.rs`). This module owns the format.
//!
//! ```text
//! # mdrun kmc trajectory v1
//! # temperature_k: 450
//! time_ps,carrier,x_a,y_a,z_a
//! 0.00000000e0,0,1.000000,0.000000,0.000000
//! ```
//! Comment lines start with `#` (`# temperature_k: T`, K, is read; others are ignored) and may appear anywhere;
//! empty lines are skipped. After the comments comes the column line [`COLUMNS`], then one row per carrier per
//! frame: time (ps, `{:.8e}`), carrier index (0..n−1, in order within a frame), unwrapped position (Å, 6
//! decimals). A new frame starts where the time changes. There is no cell: positions are continuous.

use super::IoError;
use nalgebra::Vector3;
use std::fmt::Write as _;
use std::path::Path;

/// First line of every kMC trajectory.
pub const VERSION_LINE: &str = "# mdrun kmc trajectory v1";
/// The column line.
pub const COLUMNS: &str = "time_ps,carrier,x_a,y_a,z_a";

/// What a kMC trajectory says about itself before its rows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KmcTrajectoryHeader {
    /// Temperature of the run (K), from `# temperature_k: T`; `None` when the file has no such line.
    pub temperature_k: Option<f64>,
}

/// Carrier positions (unwrapped, Å) at one time of a trajectory.
#[derive(Clone, Debug, PartialEq)]
pub struct KmcFrame {
    pub time_ps: f64,
    pub positions: Vec<Vector3<f64>>,
}

/// A whole kMC trajectory: header and frames (every frame with the carriers 0..n−1 in order).
#[derive(Clone, Debug, PartialEq)]
pub struct KmcTrajectory {
    pub header: KmcTrajectoryHeader,
    pub frames: Vec<KmcFrame>,
}

impl KmcTrajectoryHeader {
    /// The header text: [`VERSION_LINE`], `# temperature_k: T` (when known) and [`COLUMNS`], each ending in `\n`.
    pub fn format(&self) -> String {
        let mut text = format!("{VERSION_LINE}\n");
        if let Some(t) = self.temperature_k {
            let _ = writeln!(text, "# temperature_k: {t}");
        }
        text.push_str(COLUMNS);
        text.push('\n');
        text
    }
}

/// Appends the rows of `frame`: `time_ps,carrier,x_a,y_a,z_a` with the time as `{:.8e}` and positions with 6
/// decimals.
pub fn format_frame(text: &mut String, frame: &KmcFrame) {
    for (p, r) in frame.positions.iter().enumerate() {
        let _ = writeln!(text, "{:.8e},{p},{:.6},{:.6},{:.6}", frame.time_ps, r.x, r.y, r.z);
    }
}

/// The whole file text: header and the rows of every frame.
pub fn format_trajectory(header: &KmcTrajectoryHeader, frames: &[KmcFrame]) -> String {
    let mut text = header.format();
    for frame in frames {
        format_frame(&mut text, frame);
    }
    text
}

/// Reads a kMC trajectory file (see [`parse`]).
pub fn read(path: &Path) -> Result<KmcTrajectory, IoError> {
    let text = std::fs::read_to_string(path).map_err(|e| IoError::open(path, e))?;
    parse(&text, path)
}

/// Parses kMC trajectory text (`path` names the file in errors): the column line must come before the rows and
/// read exactly [`COLUMNS`]; every row has 5 numbers, carriers in order within a frame; at least one row.
pub fn parse(text: &str, path: &Path) -> Result<KmcTrajectory, IoError> {
    let mut header = KmcTrajectoryHeader::default();
    let mut header_seen = false;
    let mut frames: Vec<KmcFrame> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if let Some(value) = comment.trim().strip_prefix("temperature_k:") {
                header.temperature_k = Some(value.trim().parse::<f64>().map_err(|_| {
                    IoError::syntax(path, line_no, format!("temperature_k '{}' is not a number", value.trim()))
                })?);
            }
            continue;
        }
        if !header_seen {
            if line != COLUMNS {
                return Err(IoError::syntax(path, line_no, format!("expected the header '{COLUMNS}', found '{line}'")));
            }
            header_seen = true;
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 5 {
            return Err(IoError::syntax(
                path,
                line_no,
                format!("expected 5 comma-separated values, found {}", fields.len()),
            ));
        }
        let number = |k: usize| -> Result<f64, IoError> {
            fields[k].trim().parse::<f64>().map_err(|_| {
                IoError::syntax(path, line_no, format!("'{}' in column {} is not a number", fields[k], k + 1))
            })
        };
        let time_ps = number(0)?;
        let carrier: usize = fields[1].trim().parse().map_err(|_| {
            IoError::syntax(path, line_no, format!("carrier index '{}' is not a non-negative integer", fields[1]))
        })?;
        let r = Vector3::new(number(2)?, number(3)?, number(4)?);
        let new_frame = frames.last().is_none_or(|f| f.time_ps != time_ps);
        if new_frame {
            frames.push(KmcFrame { time_ps, positions: Vec::new() });
        }
        let positions = &mut frames.last_mut().expect("a frame").positions;
        if carrier != positions.len() {
            return Err(IoError::syntax(
                path,
                line_no,
                format!("carrier {carrier} out of order at {time_ps} ps (expected carrier {})", positions.len()),
            ));
        }
        positions.push(r);
    }
    if frames.is_empty() {
        return Err(IoError::format(path, "no carrier positions found".into()));
    }
    Ok(KmcTrajectory { header, frames })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_text_has_the_documented_layout_and_reads_back() {
        let header = KmcTrajectoryHeader { temperature_k: Some(450.0) };
        let frames = [
            KmcFrame { time_ps: 0.0, positions: vec![Vector3::new(1.0, 0.0, 0.0), Vector3::new(0.0, -2.5, 3.0)] },
            KmcFrame { time_ps: 0.25, positions: vec![Vector3::new(1.5, 0.0, 0.0), Vector3::new(0.0, -2.5, 3.5)] },
        ];
        let text = format_trajectory(&header, &frames);
        assert_eq!(
            text,
            "# mdrun kmc trajectory v1\n# temperature_k: 450\ntime_ps,carrier,x_a,y_a,z_a\n\
             0.00000000e0,0,1.000000,0.000000,0.000000\n0.00000000e0,1,0.000000,-2.500000,3.000000\n\
             2.50000000e-1,0,1.500000,0.000000,0.000000\n2.50000000e-1,1,0.000000,-2.500000,3.500000\n"
        );
        let read = parse(&text, Path::new("t.csv")).unwrap();
        assert_eq!(read, KmcTrajectory { header, frames: frames.to_vec() });
    }

    #[test]
    fn malformed_files_name_the_line() {
        let path = Path::new("t.csv");
        let err = parse("# mdrun kmc trajectory v1\ntime,x\n", path).unwrap_err().to_string();
        assert_eq!(err, "t.csv:2: expected the header 'time_ps,carrier,x_a,y_a,z_a', found 'time,x'");
        let err = parse("time_ps,carrier,x_a,y_a,z_a\n0,1,0,0,0\n", path).unwrap_err().to_string();
        assert!(err.contains("carrier 1 out of order"), "{err}");
        let err = parse("time_ps,carrier,x_a,y_a,z_a\n", path).unwrap_err().to_string();
        assert_eq!(err, "t.csv: no carrier positions found");
    }
}
