//! Active-learning frame selection (`mdrun select SELECT.toml`): query by committee (Seung et al., COLT 1992;
//! for NNPs Schran et al., J. Chem. Phys. 153, 104105 (2020)) combined with the symmetry-function
//! extrapolation check of n2p2 (Singraber et al., J. Chem. Theory Comput. 15, 1827 (2019)).
//!
//! For every examined frame the committee gives the per-atom force spread
//! σ_F,i = √(⟨|F_i − ⟨F_i⟩|²⟩) over members, the energy spread σ_E/N, and every member counts its
//! (atom, function) values outside its training range; `extrapolations` is the largest of these counts.
//! Ranking score: s = max_i σ_F,i + w·[extrapolations > 0] with w = `extrapolation_weight` (eV/Å). The default
//! w = ∞ ranks every extrapolating frame before every other one (among themselves by spread): a frame outside
//! the descriptor range lies outside what the committee was trained on, where committee members can agree by
//! accident, so its spread understates the error. w = 0 ranks by spread alone. Frames are then taken greedily in
//! ranking order (ties: trajectory order, then frame order), skipping those outside
//! [`min_force_spread_ev_per_a`, `max_force_spread_ev_per_a`] and those closer than `min_separation_frames`
//! to a frame already taken from the same trajectory, until `count` frames are taken.

use super::committee::Committee;
use crate::analysis::trajectory::{H5mdTrajectory, ReadOptions, TrajectoryData, TrajectoryFormat};
use crate::input::{join, non_negative, InvalidValue};
use crate::io::extxyz::{format_frame, FrameExtras};
use crate::io::{self, IoError};
use crate::neighbors::NeighborList;
use crate::potentials::{check_species, Potential};
use crate::system::System;
use anyhow::{bail, Context};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn default_every() -> usize {
    1
}
fn default_max_spread() -> f64 {
    f64::INFINITY
}
fn default_extrapolation_weight() -> f64 {
    f64::INFINITY
}

/// `mdrun select` settings (docs/train.md, "Active learning: mdrun select"). Paths are relative to the TOML
/// file's folder.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectSettings {
    /// n2p2 directories of the committee members (at least 2).
    pub committee: Vec<PathBuf>,
    /// Trajectories to choose from: extended XYZ, H5MD (mdrun's layout), or anything chemfiles reads.
    pub trajectories: Vec<PathBuf>,
    /// Examine frames 0, every, 2·every, … of every trajectory (default 1).
    #[serde(default = "default_every")]
    pub every: usize,
    /// Number of frames to pick in total.
    pub count: usize,
    /// Frames whose largest per-atom force spread is below this are not picked (eV/Å, default 0).
    #[serde(default)]
    pub min_force_spread_ev_per_a: f64,
    /// Frames whose largest per-atom force spread is above this are not picked (eV/Å, default ∞).
    #[serde(default = "default_max_spread")]
    pub max_force_spread_ev_per_a: f64,
    /// Score bonus of a frame with at least one symmetry-function extrapolation (eV/Å, default ∞: first).
    #[serde(default = "default_extrapolation_weight")]
    pub extrapolation_weight: f64,
    /// Two frames picked from the same trajectory are at least this many frames apart (default 1).
    #[serde(default = "default_every")]
    pub min_separation_frames: usize,
}

/// What was measured for one examined frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameScore {
    /// Index of the trajectory in `trajectories`.
    pub trajectory: usize,
    /// Frame index in the file (0-based, counting every frame).
    pub frame: usize,
    pub atoms: usize,
    /// Committee standard deviation of the total energy per atom (eV/atom).
    pub energy_std_ev_per_atom: f64,
    /// Largest per-atom force spread (eV/Å).
    pub force_spread_max_ev_per_a: f64,
    /// Mean per-atom force spread (eV/Å).
    pub force_spread_mean_ev_per_a: f64,
    /// Largest number over members of (atom, symmetry function) values outside the training range.
    pub extrapolations: usize,
    /// Position in the picking order (0 = picked first), when picked.
    pub rank: Option<usize>,
    /// Why the frame was or was not picked.
    pub reason: String,
}

/// Result of [`SelectSettings::run`].
#[derive(Clone, Debug, Serialize)]
pub struct SelectReport {
    /// Every examined frame, in trajectory order.
    pub frames: Vec<FrameScore>,
    /// Indices into `frames` of the picked ones, in picking order.
    pub picked: Vec<usize>,
}

impl SelectReport {
    /// Short text summary: frames examined, picked, spread range of the picked ones.
    pub fn summary(&self) -> String {
        let picked: Vec<&FrameScore> = self.picked.iter().map(|&k| &self.frames[k]).collect();
        let mut text = format!("{} frames examined, {} picked", self.frames.len(), picked.len());
        if !picked.is_empty() {
            let spreads = picked.iter().map(|f| f.force_spread_max_ev_per_a);
            let lo = spreads.clone().fold(f64::INFINITY, f64::min);
            let hi = spreads.fold(f64::NEG_INFINITY, f64::max);
            let extrapolating = picked.iter().filter(|f| f.extrapolations > 0).count();
            let _ = write!(
                text,
                "; max force spread of the picked frames {lo:.4} to {hi:.4} eV/A; {extrapolating} of them extrapolate"
            );
        }
        text
    }
}

impl SelectSettings {
    /// Checks every value; errors name the key (prefixed by `key`) and the value.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        if self.committee.len() < 2 {
            return Err(InvalidValue::new(
                join(key, "committee"),
                format!("{:?}", self.committee),
                "at least 2 model directories (a committee of one model has no spread)",
            ));
        }
        if self.trajectories.is_empty() {
            return Err(InvalidValue::new(join(key, "trajectories"), "[]", "at least one trajectory file"));
        }
        if self.every == 0 {
            return Err(InvalidValue::new(join(key, "every"), 0, "a positive integer"));
        }
        if self.count == 0 {
            return Err(InvalidValue::new(join(key, "count"), 0, "a positive integer"));
        }
        if self.min_separation_frames == 0 {
            return Err(InvalidValue::new(join(key, "min_separation_frames"), 0, "a positive integer"));
        }
        non_negative(key, "min_force_spread_ev_per_a", self.min_force_spread_ev_per_a)?;
        if self.min_force_spread_ev_per_a.is_infinite() {
            return Err(InvalidValue::new(
                join(key, "min_force_spread_ev_per_a"),
                self.min_force_spread_ev_per_a,
                "a finite number >= 0",
            ));
        }
        if self.max_force_spread_ev_per_a.is_nan() || self.max_force_spread_ev_per_a <= self.min_force_spread_ev_per_a {
            return Err(InvalidValue::new(
                join(key, "max_force_spread_ev_per_a"),
                self.max_force_spread_ev_per_a,
                format!("a number above min_force_spread_ev_per_a = {}", self.min_force_spread_ev_per_a),
            ));
        }
        if self.extrapolation_weight.is_nan() || self.extrapolation_weight < 0.0 {
            return Err(InvalidValue::new(
                join(key, "extrapolation_weight"),
                self.extrapolation_weight,
                "a number >= 0 (eV/A; inf ranks extrapolating frames first)",
            ));
        }
        Ok(())
    }

    /// Scores every examined frame of every trajectory with the committee, picks the frames and writes
    /// `selected.extxyz` and `selection.csv` into `output_dir`. Frames are evaluated in parallel; the result
    /// does not depend on the number of threads.
    pub fn run(&self, base_dir: &Path, output_dir: &Path) -> anyhow::Result<SelectReport> {
        let directories: Vec<PathBuf> = self.committee.iter().map(|d| base_dir.join(d)).collect();
        for (k, d) in directories.iter().enumerate() {
            if !d.is_dir() {
                bail!("committee[{k}] = \"{}\": {} is not a directory", self.committee[k].display(), d.display());
            }
        }
        let paths: Vec<PathBuf> = self.trajectories.iter().map(|t| base_dir.join(t)).collect();
        for (k, p) in paths.iter().enumerate() {
            if !p.is_file() {
                bail!("trajectories[{k}] = \"{}\": file {} not found", self.trajectories[k].display(), p.display());
            }
        }
        let committee = Committee::load(&directories).context("committee: cannot load the models")?;
        let species = committee.members[0].species();
        for (k, member) in committee.members.iter().enumerate() {
            if member.species() != species {
                bail!(
                    "committee[{k}] = \"{}\" describes elements {:?}, committee[0] describes {:?}: every member \
                     needs the same elements",
                    self.committee[k].display(),
                    member.species(),
                    species
                );
            }
        }
        let mut frames = Vec::new();
        for (t, path) in paths.iter().enumerate() {
            let source = FrameSource::open(path)?;
            let indices: Vec<usize> = (0..source.len()).step_by(self.every).collect();
            for chunk in indices.chunks(FRAMES_PER_CHUNK) {
                let systems = chunk.iter().map(|&f| source.frame(f)).collect::<Result<Vec<_>, _>>()?;
                let scores = systems
                    .par_iter()
                    .zip(chunk)
                    .map(|(system, &f)| {
                        check_species(&committee, system).with_context(|| format!("{}, frame {f}", path.display()))?;
                        score_frame(&committee, system, t, f).with_context(|| format!("{}, frame {f}", path.display()))
                    })
                    .collect::<anyhow::Result<Vec<FrameScore>>>()?;
                frames.extend(scores);
            }
        }
        let picked = self.pick(&mut frames);
        let report = SelectReport { frames, picked };
        self.write(&report, &paths, output_dir)?;
        Ok(report)
    }

    /// Ranks the frames and takes them greedily (see the module documentation); sets `rank` and `reason` of
    /// every frame and returns the indices of the picked ones in picking order.
    pub fn pick(&self, frames: &mut [FrameScore]) -> Vec<usize> {
        let weight = self.extrapolation_weight;
        let key = |f: &FrameScore| {
            let extrapolating = f.extrapolations > 0;
            let tier = extrapolating && weight.is_infinite();
            let bonus = if extrapolating && weight.is_finite() { weight } else { 0.0 };
            (tier, f.force_spread_max_ev_per_a + bonus)
        };
        let mut order: Vec<usize> = (0..frames.len()).collect();
        order.sort_by(|&a, &b| {
            let (ta, sa) = key(&frames[a]);
            let (tb, sb) = key(&frames[b]);
            tb.cmp(&ta).then(sb.total_cmp(&sa)).then(a.cmp(&b))
        });
        let mut picked: Vec<usize> = Vec::new();
        for k in order {
            let spread = frames[k].force_spread_max_ev_per_a;
            let reason = if spread.is_nan() || spread > self.max_force_spread_ev_per_a {
                format!("force spread above max_force_spread_ev_per_a = {}", self.max_force_spread_ev_per_a)
            } else if spread < self.min_force_spread_ev_per_a {
                format!("force spread below min_force_spread_ev_per_a = {}", self.min_force_spread_ev_per_a)
            } else if let Some(&near) = picked.iter().find(|&&p| {
                frames[p].trajectory == frames[k].trajectory
                    && frames[p].frame.abs_diff(frames[k].frame) < self.min_separation_frames
            }) {
                format!("within min_separation_frames of picked frame {}", frames[near].frame)
            } else if picked.len() == self.count {
                format!("ranked after the {} picked frames", self.count)
            } else {
                frames[k].rank = Some(picked.len());
                picked.push(k);
                "picked".to_string()
            };
            frames[k].reason = reason;
        }
        picked
    }

    fn write(&self, report: &SelectReport, paths: &[PathBuf], output_dir: &Path) -> anyhow::Result<()> {
        crate::io::create_output_dir(output_dir)?;
        let mut csv = String::from(
            "source,frame,atoms,energy_std_ev_per_atom,force_spread_max_ev_per_a,force_spread_mean_ev_per_a,\
             extrapolations,selected,rank,reason\n",
        );
        for f in &report.frames {
            let _ = writeln!(
                csv,
                "{},{},{},{:.8e},{:.8e},{:.8e},{},{},{},{}",
                csv_field(&self.trajectories[f.trajectory].display().to_string()),
                f.frame,
                f.atoms,
                f.energy_std_ev_per_atom,
                f.force_spread_max_ev_per_a,
                f.force_spread_mean_ev_per_a,
                f.extrapolations,
                u8::from(f.rank.is_some()),
                f.rank.map_or(String::new(), |r| r.to_string()),
                csv_field(&f.reason)
            );
        }
        io::write_atomically(&output_dir.join("selection.csv"), csv.as_bytes())?;

        // Re-read the picked frames trajectory by trajectory (one trajectory in memory at a time).
        let mut systems: Vec<Option<System>> = vec![None; report.picked.len()];
        for (t, path) in paths.iter().enumerate() {
            let wanted: Vec<(usize, usize)> = report
                .picked
                .iter()
                .enumerate()
                .filter(|(_, &k)| report.frames[k].trajectory == t)
                .map(|(rank, &k)| (rank, report.frames[k].frame))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let source = FrameSource::open(path)?;
            for (rank, frame) in wanted {
                systems[rank] = Some(source.frame(frame)?);
            }
        }
        let mut text = String::new();
        for (rank, (&k, system)) in report.picked.iter().zip(systems).enumerate() {
            let f = &report.frames[k];
            let mut system = system.expect("every picked frame was read");
            system.velocities.iter_mut().for_each(|v| *v = nalgebra::Vector3::zeros());
            let source = self.trajectories[f.trajectory].display().to_string();
            let info = vec![
                ("source".to_string(), quoted(&source)),
                ("frame".to_string(), f.frame.to_string()),
                ("rank".to_string(), rank.to_string()),
                ("force_spread_max".to_string(), format!("{:.8e}", f.force_spread_max_ev_per_a)),
                ("energy_std_per_atom".to_string(), format!("{:.8e}", f.energy_std_ev_per_atom)),
                ("extrapolations".to_string(), f.extrapolations.to_string()),
            ];
            text += &format_frame(&system, &FrameExtras { info, ..Default::default() });
        }
        io::write_atomically(&output_dir.join("selected.extxyz"), text.as_bytes())?;
        Ok(())
    }
}

/// Frames read and evaluated together: bounds the memory held for H5MD trajectories.
const FRAMES_PER_CHUNK: usize = 64;

/// Committee spread and extrapolation count of one frame.
fn score_frame(
    committee: &Committee,
    system: &System,
    trajectory: usize,
    frame: usize,
) -> Result<FrameScore, crate::neighbors::NeighborListTooLarge> {
    let mut list = NeighborList::new(committee.cutoff(), 0.0);
    list.build(system)?;
    let evaluation = committee.evaluate(system, &list);
    let n = system.len().max(1) as f64;
    // A non-finite force of any member makes the spread NaN: the frame is then never picked.
    let spread_max =
        evaluation.force_std.iter().fold(0.0, |a: f64, &b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) });
    Ok(FrameScore {
        trajectory,
        frame,
        atoms: system.len(),
        energy_std_ev_per_atom: evaluation.energy_std / n,
        force_spread_max_ev_per_a: spread_max,
        force_spread_mean_ev_per_a: evaluation.force_std.iter().sum::<f64>() / n,
        extrapolations: evaluation.member_extrapolations.iter().copied().max().unwrap_or(0),
        rank: None,
        reason: String::new(),
    })
}

/// Frames of one trajectory file: extended XYZ and chemfiles formats are read whole (frames may differ in
/// atoms), H5MD frame by frame.
enum FrameSource {
    InMemory(Vec<System>),
    H5md(Box<H5mdTrajectory>),
}

impl FrameSource {
    fn open(path: &Path) -> Result<FrameSource, IoError> {
        Ok(match TrajectoryFormat::guess(path) {
            TrajectoryFormat::H5md => {
                let options = ReadOptions { stride: 1, ..Default::default() };
                FrameSource::H5md(Box::new(H5mdTrajectory::open(path, &options)?))
            }
            TrajectoryFormat::ExtendedXyz => FrameSource::InMemory(
                io::extxyz::read_frames(path)?
                    .into_iter()
                    .map(|f| {
                        let mut s = f.system;
                        s.wrap();
                        s
                    })
                    .collect(),
            ),
            _ => FrameSource::InMemory(
                io::read_frames_with_chemfiles(path, None)?
                    .into_iter()
                    .map(|mut s| {
                        s.wrap();
                        s
                    })
                    .collect(),
            ),
        })
    }

    fn len(&self) -> usize {
        match self {
            FrameSource::InMemory(frames) => frames.len(),
            FrameSource::H5md(trajectory) => trajectory.n_frames(),
        }
    }

    fn frame(&self, f: usize) -> Result<System, IoError> {
        match self {
            FrameSource::InMemory(frames) => Ok(frames[f].clone()),
            FrameSource::H5md(trajectory) => trajectory.frame_system(f),
        }
    }
}

/// A CSV field, quoted when it holds a comma or a quote.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// An extended XYZ comment value, quoted when it holds spaces.
fn quoted(text: &str) -> String {
    if text.contains(char::is_whitespace) {
        format!("\"{text}\"")
    } else {
        text.to_string()
    }
}

/// `mdrun select FILE.toml`: reads and validates the settings (errors name the file and key), runs the
/// selection with paths relative to FILE.toml's folder and writes the results into `output`.
pub fn select_file(path: &Path, output: &Path) -> anyhow::Result<SelectReport> {
    let settings: SelectSettings = crate::input::read_toml(path)?;
    settings.validate("").with_context(|| format!("{}", path.display()))?;
    settings.run(path.parent().unwrap_or(Path::new(".")), output).with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> SelectSettings {
        let s: SelectSettings =
            toml::from_str(&format!("committee = [\"a\", \"b\"]\ntrajectories = [\"t.extxyz\"]\n{toml_text}")).unwrap();
        s.validate("").unwrap();
        s
    }

    /// Frames of trajectory `t` with the given (spread, extrapolations), at frame indices 0, 1, 2, ...
    fn frames(t: usize, values: &[(f64, usize)]) -> Vec<FrameScore> {
        values
            .iter()
            .enumerate()
            .map(|(frame, &(spread, extrapolations))| FrameScore {
                trajectory: t,
                frame,
                atoms: 4,
                energy_std_ev_per_atom: 0.0,
                force_spread_max_ev_per_a: spread,
                force_spread_mean_ev_per_a: spread / 2.0,
                extrapolations,
                rank: None,
                reason: String::new(),
            })
            .collect()
    }

    fn picked_frames(s: &SelectSettings, frames: &mut [FrameScore]) -> Vec<(usize, usize)> {
        s.pick(frames).iter().map(|&k| (frames[k].trajectory, frames[k].frame)).collect()
    }

    #[test]
    fn ranking_by_spread_with_extrapolating_frames_first() {
        let mut f = frames(0, &[(0.1, 0), (0.5, 0), (0.2, 3), (0.4, 0), (0.05, 1)]);
        // Default weight ∞: extrapolating frames first (by spread), then the others by spread.
        assert_eq!(picked_frames(&settings("count = 4"), &mut f), [(0, 2), (0, 4), (0, 1), (0, 3)]);
        assert_eq!(f[0].reason, "ranked after the 4 picked frames");
        assert_eq!(f[1].rank, Some(2));
        // Weight 0: spread alone; weight 0.25: 0.2 + 0.25 = 0.45 lies between 0.5 and 0.4.
        assert_eq!(picked_frames(&settings("count = 3\nextrapolation_weight = 0"), &mut f), [(0, 1), (0, 3), (0, 2)]);
        assert_eq!(
            picked_frames(&settings("count = 3\nextrapolation_weight = 0.25"), &mut f),
            [(0, 1), (0, 2), (0, 3)]
        );
    }

    #[test]
    fn thresholds_separation_count_and_ties() {
        let mut f = frames(0, &[(0.3, 0), (0.9, 0), (0.8, 0), (0.7, 0), (0.01, 0), (9.0, 0), (f64::NAN, 0)]);
        f.extend(frames(1, &[(0.3, 0), (0.3, 0)]));
        let s = settings("count = 10\nmin_force_spread_ev_per_a = 0.05\nmax_force_spread_ev_per_a = 5");
        // Thresholds drop 0.01, 9.0 and NaN; ties (0.3) go in trajectory order.
        assert_eq!(picked_frames(&s, &mut f), [(0, 1), (0, 2), (0, 3), (0, 0), (1, 0), (1, 1)]);
        assert!(f[4].reason.starts_with("force spread below min_force_spread_ev_per_a"));
        assert!(f[5].reason.starts_with("force spread above max_force_spread_ev_per_a"));
        assert!(f[6].reason.starts_with("force spread above"));
        // Separation 2: frames 2 and 0 are within 2 of picked frame 1; frame 3 is not.
        let s = settings(
            "count = 10\nmin_force_spread_ev_per_a = 0.05\nmax_force_spread_ev_per_a = 5\nmin_separation_frames = 2",
        );
        assert_eq!(picked_frames(&s, &mut f), [(0, 1), (0, 3), (1, 0)]);
        assert_eq!(f[2].reason, "within min_separation_frames of picked frame 1");
        assert_eq!(f[8].reason, "within min_separation_frames of picked frame 0");
        // Separation 3 also excludes frame 3 (|3 − 1| = 2 < 3); frame 4 (|4 − 1| = 3) is taken last, by spread.
        let s = settings("count = 10\nmax_force_spread_ev_per_a = 5\nmin_separation_frames = 3");
        assert_eq!(picked_frames(&s, &mut f), [(0, 1), (1, 0), (0, 4)]);
        // count caps the picks.
        assert_eq!(picked_frames(&settings("count = 2"), &mut f), [(0, 5), (0, 1)]);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let parse = |text: &str| {
            toml::from_str::<SelectSettings>(&format!("committee = [\"a\", \"b\"]\ntrajectories = [\"t.xyz\"]\n{text}"))
                .unwrap()
                .validate("select")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(parse("count = 0"), "select.count = 0: expected a positive integer");
        assert_eq!(
            parse("count = 1\nmin_separation_frames = 0"),
            "select.min_separation_frames = 0: expected a positive integer"
        );
        assert!(
            parse("count = 1\nmin_force_spread_ev_per_a = -0.1").starts_with("select.min_force_spread_ev_per_a = -0.1")
        );
        assert!(parse("count = 1\nextrapolation_weight = -1").starts_with("select.extrapolation_weight = -1: expected"));
        assert!(parse("count = 1\nmin_force_spread_ev_per_a = 1\nmax_force_spread_ev_per_a = 0.5")
            .starts_with("select.max_force_spread_ev_per_a = 0.5: expected a number above"));
    }
}
