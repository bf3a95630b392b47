//! Target-temperature schedules: a list of segments, each either constant or a linear ramp, so that a
//! melt–quench is e.g. 6000 K for 15 ps, then 6000 → 300 K at 1 K/fs.
//!
//! A segment of S steps from T_a to T_b sets the target at the end of its n-th step (n = 1..S) to
//! T(n) = T_a + (T_b − T_a)·n/S, as LAMMPS `fix nvt temp Ta Tb` over a `run S` (which evaluates the target at
//! the current timestep). A ramp rate r (K/fs) gives S = |T_b − T_a|/(r·Δt) steps, so each step changes the
//! target by exactly r·Δt. Durations and rates must give a whole number of steps; anything else is an error
//! rather than a silent rounding.
//!
//! Under a barostat each segment also carries a target pressure, constant (`pressure_bar` or `pressure_gpa`)
//! or ramped (`from_bar` + `to_bar`, or `from_gpa` + `to_gpa`) over the same steps by the same rule, so that
//! a melt–quench can run at constant pressure or compress as it cools.

use crate::input::{join, positive, InvalidValue};
use serde::{Deserialize, Serialize};

/// One `schedule = [...]` entry. Either `temperature_k` (constant) or `from_k` + `to_k` (ramp); the length
/// is `duration_ps`, or `steps`, or (ramps only) `rate_k_per_fs`: exactly one of them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSettings {
    /// Constant target temperature (K).
    pub temperature_k: Option<f64>,
    /// Ramp start temperature (K).
    pub from_k: Option<f64>,
    /// Ramp end temperature (K).
    pub to_k: Option<f64>,
    /// Ramp rate, magnitude (K/fs).
    pub rate_k_per_fs: Option<f64>,
    /// Segment length (ps).
    pub duration_ps: Option<f64>,
    /// Segment length (steps).
    pub steps: Option<u64>,
    /// Constant target pressure (bar), under a barostat.
    pub pressure_bar: Option<f64>,
    /// Constant target pressure (GPa), under a barostat.
    pub pressure_gpa: Option<f64>,
    /// Pressure ramp start and end (bar).
    pub from_bar: Option<f64>,
    pub to_bar: Option<f64>,
    /// Pressure ramp start and end (GPa).
    pub from_gpa: Option<f64>,
    pub to_gpa: Option<f64>,
}

/// 1 GPa in bar.
pub const BAR_PER_GPA: f64 = 1.0e4;

/// The largest target pressure accepted (bar): 1000 GPa, beyond the centre of the Earth (360 GPa), so that a
/// pressure written in Pa or kbar by mistake is caught.
pub const MAX_PRESSURE_BAR: f64 = 1.0e7;

/// Checks one target pressure (bar) read from `key` (written as `value` in its own unit).
pub fn check_pressure(key: &str, value: f64, bar: f64) -> Result<(), InvalidValue> {
    if !(bar.is_finite() && (0.0..=MAX_PRESSURE_BAR).contains(&bar)) {
        return Err(InvalidValue::new(
            key,
            crate::input::number(value),
            "a finite pressure from 0 to 1000 GPa (1e7 bar); a negative target (tension) lets a liquid cell expand without bound",
        ));
    }
    Ok(())
}

/// The pressure of `bar` or `gpa` (at most one given), in bar; `key` is the prefix, `what` the key stem
/// (`pressure`, `from`, `to`).
pub fn pressure_in_bar(key: &str, what: &str, bar: Option<f64>, gpa: Option<f64>) -> Result<Option<f64>, InvalidValue> {
    match (bar, gpa) {
        (Some(p), None) => check_pressure(&join(key, &format!("{what}_bar")), p, p).map(|()| Some(p)),
        (None, Some(p)) => {
            check_pressure(&join(key, &format!("{what}_gpa")), p, p * BAR_PER_GPA).map(|()| Some(p * BAR_PER_GPA))
        }
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(InvalidValue::new(
            join(key, &format!("{what}_gpa")),
            "...",
            format!("either {what}_bar or {what}_gpa, not both"),
        )),
    }
}

/// A validated segment: from `from_k` to `to_k` over `steps` steps, and from `pressure_bar.0` to
/// `pressure_bar.1` (bar) when a pressure is given.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub from_k: f64,
    pub to_k: f64,
    pub steps: u64,
    pub pressure_bar: Option<(f64, f64)>,
}

/// A validated schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    segments: Vec<Segment>,
    /// Step at which each segment starts.
    starts: Vec<u64>,
}

/// The most steps a schedule may hold (segments together): 10¹² steps of 1 fs are a microsecond, beyond any
/// MD this engine runs, and far below where a step count loses precision as an f64 or wraps as a u64.
pub const MAX_STEPS: u64 = 1_000_000_000_000;

/// Converts a length in fs into a whole number of steps, or explains why not.
fn whole_steps(key: &str, value: f64, length_fs: f64, timestep_fs: f64) -> Result<u64, InvalidValue> {
    let exact = length_fs / timestep_fs;
    let steps = exact.round();
    if exact > MAX_STEPS as f64 {
        return Err(InvalidValue::new(
            key,
            crate::input::number(value),
            format!(
                "at most {MAX_STEPS:e} timesteps of {} fs (it gives {exact:e} steps)",
                crate::input::number(timestep_fs)
            ),
        ));
    }
    if !(exact.is_finite() && steps >= 1.0 && (exact - steps).abs() <= 1e-6 * steps.max(1.0)) {
        return Err(InvalidValue::new(
            key,
            crate::input::number(value),
            format!(
                "a length that is a whole, non-zero number of timesteps of {} fs (it gives {} steps)",
                crate::input::number(timestep_fs),
                crate::input::number(exact)
            ),
        ));
    }
    Ok(steps as u64)
}

impl SegmentSettings {
    /// Validates this entry (`key` is e.g. `stage[1].schedule[0]`) and converts it into a segment.
    pub fn to_segment(&self, key: &str, timestep_fs: f64) -> Result<Segment, InvalidValue> {
        let (from_k, to_k) = match (self.temperature_k, self.from_k, self.to_k) {
            (Some(t), None, None) => {
                positive(key, "temperature_k", t)?;
                (t, t)
            }
            (None, Some(a), Some(b)) => {
                positive(key, "from_k", a)?;
                positive(key, "to_k", b)?;
                (a, b)
            }
            _ => {
                return Err(InvalidValue::new(
                    key,
                    "{...}",
                    "either temperature_k (constant segment) or both from_k and to_k (ramp), not a mix",
                ))
            }
        };
        let lengths = [self.duration_ps.is_some(), self.steps.is_some(), self.rate_k_per_fs.is_some()];
        if lengths.iter().filter(|&&given| given).count() != 1 {
            return Err(InvalidValue::new(key, "{...}", "exactly one of duration_ps, steps or rate_k_per_fs"));
        }
        let steps = if let Some(duration) = self.duration_ps {
            positive(key, "duration_ps", duration)?;
            whole_steps(&join(key, "duration_ps"), duration, duration * 1000.0, timestep_fs)?
        } else if let Some(steps) = self.steps {
            if steps == 0 || steps > MAX_STEPS {
                return Err(InvalidValue::new(
                    join(key, "steps"),
                    steps,
                    format!("a positive number of steps, at most {MAX_STEPS:e}"),
                ));
            }
            steps
        } else {
            let rate = self.rate_k_per_fs.unwrap_or_default();
            positive(key, "rate_k_per_fs", rate)?;
            if from_k == to_k {
                return Err(InvalidValue::new(
                    join(key, "rate_k_per_fs"),
                    rate,
                    "no rate for a constant segment (from_k = to_k): give duration_ps or steps",
                ));
            }
            whole_steps(&join(key, "rate_k_per_fs"), rate, (to_k - from_k).abs() / rate, timestep_fs)?
        };
        Ok(Segment { from_k, to_k, steps, pressure_bar: self.pressure(key)? })
    }

    /// The segment's pressure (bar): constant, a ramp, or none.
    fn pressure(&self, key: &str) -> Result<Option<(f64, f64)>, InvalidValue> {
        let constant = pressure_in_bar(key, "pressure", self.pressure_bar, self.pressure_gpa)?;
        let from = pressure_in_bar(key, "from", self.from_bar, self.from_gpa)?;
        let to = pressure_in_bar(key, "to", self.to_bar, self.to_gpa)?;
        match (constant, from, to) {
            (Some(p), None, None) => Ok(Some((p, p))),
            (None, Some(a), Some(b)) => Ok(Some((a, b))),
            (None, None, None) => Ok(None),
            _ => Err(InvalidValue::new(
                key,
                "{...}",
                "either pressure_bar/pressure_gpa (constant) or both from_bar and to_bar (or from_gpa and to_gpa) for a pressure ramp",
            )),
        }
    }
}

impl Schedule {
    /// A schedule from validated segments (at least one, each with at least one step).
    pub fn new(segments: Vec<Segment>) -> Schedule {
        let mut starts = Vec::with_capacity(segments.len());
        let mut start = 0;
        for segment in &segments {
            starts.push(start);
            start += segment.steps;
        }
        Schedule { segments, starts }
    }

    /// A single constant segment.
    pub fn constant(temperature_k: f64, steps: u64) -> Schedule {
        Schedule::new(vec![Segment { from_k: temperature_k, to_k: temperature_k, steps, pressure_bar: None }])
    }

    /// The same schedule with a constant target pressure (bar) in every segment.
    pub fn at_pressure(mut self, pressure_bar: f64) -> Schedule {
        for segment in &mut self.segments {
            segment.pressure_bar = Some((pressure_bar, pressure_bar));
        }
        self
    }

    /// True when every segment has a target pressure; false when none has. `None` for a mix.
    pub fn has_pressure(&self) -> Option<bool> {
        let with = self.segments.iter().filter(|s| s.pressure_bar.is_some()).count();
        match with {
            0 => Some(false),
            n if n == self.segments.len() => Some(true),
            _ => None,
        }
    }

    /// Validates `schedule = [...]` entries (`key` is e.g. `stage[1].schedule`).
    pub fn from_settings(entries: &[SegmentSettings], key: &str, timestep_fs: f64) -> Result<Schedule, InvalidValue> {
        if entries.is_empty() {
            return Err(InvalidValue::new(key, "[]", "at least one segment"));
        }
        let segments = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| entry.to_segment(&format!("{key}[{i}]"), timestep_fs))
            .collect::<Result<Vec<_>, _>>()?;
        let total = segments.iter().map(|s| s.steps).try_fold(0u64, |sum, steps| sum.checked_add(steps));
        if total.is_none_or(|total| total > MAX_STEPS) {
            let steps: Vec<u64> = segments.iter().map(|s| s.steps).collect();
            return Err(InvalidValue::new(
                key,
                format!("segments of {steps:?} steps"),
                format!("at most {MAX_STEPS:e} steps in all"),
            ));
        }
        Ok(Schedule::new(segments))
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Total number of steps.
    pub fn total_steps(&self) -> u64 {
        self.segments.iter().map(|s| s.steps).sum()
    }

    /// Index of the segment that step `step` (1-based: the step that ends at that count) belongs to; step 0
    /// belongs to the first segment.
    pub fn segment_index(&self, step: u64) -> usize {
        let index = self.starts.partition_point(|&start| start < step);
        index.saturating_sub(1).min(self.segments.len() - 1)
    }

    /// Target temperature (K) at the end of step `step` (0 = the start of the run).
    pub fn target_temperature(&self, step: u64) -> f64 {
        let index = self.segment_index(step);
        let segment = &self.segments[index];
        let n = (step - self.starts[index]).min(segment.steps);
        if n == segment.steps {
            segment.to_k
        } else {
            segment.from_k + (segment.to_k - segment.from_k) * n as f64 / segment.steps as f64
        }
    }

    /// Target pressure (bar) at the end of step `step`, by the rule of [`target_temperature`](Self::target_temperature);
    /// `None` when the segment has no pressure.
    pub fn target_pressure_bar(&self, step: u64) -> Option<f64> {
        let index = self.segment_index(step);
        let segment = &self.segments[index];
        let (from, to) = segment.pressure_bar?;
        let n = (step - self.starts[index]).min(segment.steps);
        Some(if n == segment.steps { to } else { from + (to - from) * n as f64 / segment.steps as f64 })
    }

    /// The largest target temperature anywhere in the schedule (K).
    pub fn max_temperature(&self) -> f64 {
        self.segments.iter().map(|s| s.from_k.max(s.to_k)).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn melt_quench(timestep_fs: f64) -> Schedule {
        let entries = [
            SegmentSettings { temperature_k: Some(6000.0), duration_ps: Some(15.0), ..Default::default() },
            SegmentSettings { from_k: Some(6000.0), to_k: Some(300.0), rate_k_per_fs: Some(1.0), ..Default::default() },
        ];
        Schedule::from_settings(&entries, "stage[0].schedule", timestep_fs).unwrap()
    }

    #[test]
    fn melt_quench_boundaries_and_rate_are_exact() {
        let s = melt_quench(2.0);
        assert_eq!(s.segments()[0].steps, 7500);
        assert_eq!(s.segments()[1].steps, 2850);
        assert_eq!(s.total_steps(), 10350);
        assert_eq!(s.target_temperature(0), 6000.0);
        assert_eq!(s.target_temperature(7500), 6000.0);
        assert_eq!(s.segment_index(7500), 0);
        assert_eq!(s.segment_index(7501), 1);
        assert_eq!(s.target_temperature(7501), 5998.0);
        assert_eq!(s.target_temperature(10350), 300.0);
        // Beyond the end the last target holds.
        assert_eq!(s.target_temperature(20000), 300.0);
        // Every ramp step lowers the target by rate·Δt = 2 K.
        for step in 7501..=10350 {
            let change = s.target_temperature(step - 1) - s.target_temperature(step);
            assert!((change - 2.0).abs() < 1e-9, "step {step}: ΔT = {change}");
        }
        // Halfway through the ramp (1425 of 2850 steps) the target is the mean.
        assert_eq!(s.target_temperature(7500 + 1425), 3150.0);
    }

    #[test]
    fn step_counts_beyond_the_limit_are_refused() {
        let constant = |duration_ps: Option<f64>, steps: Option<u64>| SegmentSettings {
            temperature_k: Some(300.0),
            duration_ps,
            steps,
            ..Default::default()
        };
        let err = constant(Some(1e20), None).to_segment("s", 1.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.duration_ps = 1e20: expected at most 1e12 timesteps of 1 fs (it gives 1e23 steps)"
        );
        let err = constant(Some(1.0), None).to_segment("s", 1e-30).unwrap_err();
        assert!(err.expected.starts_with("at most 1e12 timesteps of"), "{err}");
        assert!(constant(None, Some(MAX_STEPS + 1)).to_segment("s", 1.0).is_err());
        // Two segments of u64::MAX / 2 + 1 steps would wrap to 0 in a u64.
        let half = constant(None, Some(MAX_STEPS));
        let err = Schedule::from_settings(&[half.clone(), half], "s", 1.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "s = segments of [1000000000000, 1000000000000] steps: expected at most 1e12 steps in all"
        );
    }

    #[test]
    fn pressure_ramps_follow_the_temperature_rule() {
        let hold = SegmentSettings {
            temperature_k: Some(300.0),
            steps: Some(10),
            pressure_gpa: Some(1.0),
            ..Default::default()
        };
        let release = SegmentSettings {
            temperature_k: Some(300.0),
            steps: Some(4),
            from_bar: Some(1e4),
            to_bar: Some(0.0),
            ..Default::default()
        };
        let s = Schedule::from_settings(&[hold.clone(), release], "s", 1.0).unwrap();
        assert_eq!(s.has_pressure(), Some(true));
        assert_eq!(s.target_pressure_bar(0), Some(1e4));
        assert_eq!(s.target_pressure_bar(10), Some(1e4));
        assert_eq!(s.target_pressure_bar(12), Some(5e3));
        assert_eq!(s.target_pressure_bar(14), Some(0.0));
        let bare = SegmentSettings { temperature_k: Some(300.0), steps: Some(4), ..Default::default() };
        assert_eq!(Schedule::from_settings(&[hold.clone(), bare.clone()], "s", 1.0).unwrap().has_pressure(), None);
        let constant = Schedule::from_settings(&[bare], "s", 1.0).unwrap();
        assert_eq!(constant.target_pressure_bar(2), None);
        assert_eq!(constant.at_pressure(5.0).target_pressure_bar(2), Some(5.0));
        let with = |change: fn(&mut SegmentSettings)| {
            let mut segment = hold.clone();
            change(&mut segment);
            segment.to_segment("s[0]", 1.0).unwrap_err().to_string()
        };
        assert_eq!(
            with(|s| s.pressure_gpa = Some(-1.0)),
            "s[0].pressure_gpa = -1: expected a finite pressure from 0 to 1000 GPa (1e7 bar); a negative target (tension) lets a liquid cell expand without bound"
        );
        assert!(with(|s| s.pressure_gpa = Some(f64::NAN)).starts_with("s[0].pressure_gpa = NaN"));
        assert!(with(|s| s.pressure_bar = Some(1.0)).contains("either pressure_bar or pressure_gpa"));
        assert!(with(|s| s.from_bar = Some(1.0)).contains("from_bar and to_bar"));
    }

    #[test]
    fn ramp_by_duration_and_steps_agree() {
        let by_duration =
            SegmentSettings { from_k: Some(300.0), to_k: Some(900.0), duration_ps: Some(0.6), ..Default::default() };
        let by_steps =
            SegmentSettings { from_k: Some(300.0), to_k: Some(900.0), steps: Some(600), ..Default::default() };
        let a = by_duration.to_segment("s", 1.0).unwrap();
        let b = by_steps.to_segment("s", 1.0).unwrap();
        assert_eq!(a, b);
        let s = Schedule::new(vec![a]);
        assert_eq!(s.target_temperature(300), 600.0);
    }

    #[test]
    fn bad_segments_are_explained() {
        let mixed =
            SegmentSettings { temperature_k: Some(300.0), from_k: Some(1.0), steps: Some(1), ..Default::default() };
        let err = mixed.to_segment("stage[1].schedule[0]", 1.0).unwrap_err();
        assert!(err.to_string().contains("either temperature_k"), "{err}");
        let two_lengths = SegmentSettings {
            temperature_k: Some(300.0),
            steps: Some(1),
            duration_ps: Some(1.0),
            ..Default::default()
        };
        assert!(two_lengths.to_segment("k", 1.0).unwrap_err().to_string().contains("exactly one"));
        let fractional =
            SegmentSettings { temperature_k: Some(300.0), duration_ps: Some(0.0015), ..Default::default() };
        let err = fractional.to_segment("stage[1].schedule[0]", 1.0).unwrap_err();
        assert_eq!(err.key, "stage[1].schedule[0].duration_ps");
        assert!(err.to_string().contains("1.5 steps"), "{err}");
        let negative = SegmentSettings { temperature_k: Some(-3.0), steps: Some(5), ..Default::default() };
        assert_eq!(negative.to_segment("k", 1.0).unwrap_err().key, "k.temperature_k");
        assert!(Schedule::from_settings(&[], "stage[0].schedule", 1.0).is_err());
    }
}
