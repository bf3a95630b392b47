//! Atom-centred symmetry functions in n2p2's definitions (`SymFnc*.cpp`), their sorting, and grouped
//! evaluation of values and of energy gradients.
//!
//! Sums run over neighbours j (and pairs j < k) of the central atom i within the cutoff r_c, with
//! r_ij = |d_ij|, cos θ_ijk = d_ij·d_ik/(r_ij r_ik), f_c the cutoff function of `cutoff_type`:
//!
//! | type | `symfunction_short` arguments | G_i |
//! |---|---|---|
//! | 2  | `ec 2 e1 η r_s r_c` | Σ_j∈e1 exp(−η(r_ij − r_s)²) f_c(r_ij) |
//! | 3  | `ec 3 e1 e2 η λ ζ r_c [r_s]` | 2^(1−ζ) Σ_j<k (1 + λ cos θ)^ζ exp(−η Σ_{ij,ik,jk}(r − r_s)²) f_c(r_ij) f_c(r_ik) f_c(r_jk) |
//! | 9  | `ec 9 e1 e2 η λ ζ r_c [r_s]` | as 3 without the r_jk terms (wide) |
//! | 12 | `ec 12 η r_s r_c` | Σ_j Z_j exp(−η(r_ij − r_s)²) f_c(r_ij) |
//! | 13 | `ec 13 η r_s λ ζ r_c` | as 3 over all pairs, weighted by Z_j Z_k |
//! | 20 | `ec 20 e1 r_l r_c sub` | Σ_j∈e1 C(r_ij) |
//! | 21 | `ec 21 e1 e2 r_l r_c θ_l θ_r sub` | Σ_j<k C(r_ij) C(r_ik) C(r_jk) A(θ_ijk) |
//! | 22 | `ec 22 e1 e2 r_l r_c θ_l θ_r sub` | Σ_j<k C(r_ij) C(r_ik) A(θ_ijk) |
//!
//! Types 2, 3, 9 (Behler, J. Chem. Phys. 134, 074106 (2011)), 12/13 (Gastegger et al., J. Chem. Phys. 148,
//! 241709 (2018)), 20–22 (Bircher, Singraber & Dellago, Mach. Learn.: Sci. Technol. 2, 035026 (2021)).
//! C is a compact function on (r_l, r_c) with core `sub` (`p1`…`p4`, `p1a`…`p4a` asymmetric, `e`), A the
//! same core (never asymmetric) on [θ_l, θ_r] in degrees. Radial compact functions count only
//! r_l < r < r_c; angular ones skip cos θ = ±1.
//!
//! Evaluation is grouped as in n2p2: functions sharing the neighbour selection (type, elements, cutoff)
//! visit each neighbour or pair once. The gradient pass takes weights w_m = ∂E/∂G_m and accumulates
//! g_j = Σ_m w_m ∂G_m/∂d_ij for every neighbour directly, instead of storing every ∂G/∂r.

use super::cutoff::{CompactFunction, CoreFunction, CoreKind, CutoffFunction, CutoffType};
use super::NnpError;
use std::cmp::Ordering;
use std::path::Path;

/// One symmetry function, parameters in Å (after unit conversion), angles in degrees.
#[derive(Clone, Debug, PartialEq)]
pub struct SymmetryFunction {
    /// n2p2 type number (2, 3, 9, 12, 13, 20, 21, 22).
    pub kind: u32,
    /// Central element (index into the element list sorted by atomic number).
    pub ec: usize,
    /// Neighbour elements (e1 ≤ e2 for angular functions); `None` for the weighted types.
    pub e1: Option<usize>,
    pub e2: Option<usize>,
    pub eta: f64,
    pub rs: f64,
    pub lambda: f64,
    pub zeta: f64,
    pub rc: f64,
    /// Left radial boundary of compact functions.
    pub rl: f64,
    pub angle_left: f64,
    pub angle_right: f64,
    /// Compact-function subtype (`p2`, `p2a`, `e`...), empty for the others.
    pub subtype: String,
    /// Line in input.nn (1-based).
    pub line: usize,
}

impl SymmetryFunction {
    /// Parses the arguments of one `symfunction_short` line (element symbols resolved by `element`).
    pub fn parse(
        path: &Path,
        line: usize,
        args: &[String],
        element: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<SymmetryFunction, NnpError> {
        let err = |message: String| NnpError::syntax(path, line, format!("symfunction_short: {message}"));
        let elem = |k: usize| -> Result<usize, NnpError> {
            let s = args.get(k).ok_or_else(|| err(format!("missing argument {}", k + 1)))?;
            element(s).ok_or_else(|| err(format!("element '{s}' is not in the 'elements' list")))
        };
        let num = |k: usize| -> Result<f64, NnpError> {
            let s = args.get(k).ok_or_else(|| err(format!("missing argument {}", k + 1)))?;
            super::settings::parse_fortran_float(s)
                .filter(|v| v.is_finite())
                .ok_or_else(|| err(format!("'{s}' is not a finite number")))
        };
        let kind: u32 = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err("second argument must be the symmetry function type".into()))?;
        let mut sf = SymmetryFunction {
            kind,
            ec: elem(0)?,
            e1: None,
            e2: None,
            eta: 0.0,
            rs: 0.0,
            lambda: 0.0,
            zeta: 0.0,
            rc: 0.0,
            rl: 0.0,
            angle_left: 0.0,
            angle_right: 0.0,
            subtype: String::new(),
            line,
        };
        let expect = |n: usize| -> Result<(), NnpError> {
            if args.len() < n {
                Err(err(format!("type {kind} needs {} arguments after the element, found {}", n - 1, args.len() - 1)))
            } else {
                Ok(())
            }
        };
        match kind {
            2 => {
                expect(6)?;
                sf.e1 = Some(elem(2)?);
                (sf.eta, sf.rs, sf.rc) = (num(3)?, num(4)?, num(5)?);
            }
            3 | 9 => {
                expect(8)?;
                let (a, b) = (elem(2)?, elem(3)?);
                (sf.e1, sf.e2) = (Some(a.min(b)), Some(a.max(b)));
                (sf.eta, sf.lambda, sf.zeta, sf.rc) = (num(4)?, num(5)?, num(6)?, num(7)?);
                if args.len() > 8 {
                    sf.rs = num(8)?;
                }
            }
            12 => {
                expect(5)?;
                (sf.eta, sf.rs, sf.rc) = (num(2)?, num(3)?, num(4)?);
            }
            13 => {
                expect(7)?;
                (sf.eta, sf.rs, sf.lambda, sf.zeta, sf.rc) = (num(2)?, num(3)?, num(4)?, num(5)?, num(6)?);
            }
            20 => {
                expect(6)?;
                sf.e1 = Some(elem(2)?);
                (sf.rl, sf.rc) = (num(3)?, num(4)?);
                sf.subtype = args[5].clone();
            }
            21 | 22 => {
                expect(9)?;
                let (a, b) = (elem(2)?, elem(3)?);
                (sf.e1, sf.e2) = (Some(a.min(b)), Some(a.max(b)));
                (sf.rl, sf.rc, sf.angle_left, sf.angle_right) = (num(4)?, num(5)?, num(6)?, num(7)?);
                sf.subtype = args[8].clone();
            }
            other => {
                return Err(err(format!("type {other} is not supported (supported: 2, 3, 9, 12, 13, 20, 21, 22)")))
            }
        }
        if sf.rc <= 0.0 {
            return Err(err(format!("cutoff radius {} must be positive", sf.rc)));
        }
        if matches!(kind, 3 | 9 | 13) && sf.zeta <= 0.0 {
            return Err(err(format!("zeta = {} must be positive", sf.zeta)));
        }
        if matches!(kind, 20..=22) {
            core_from_subtype(&sf.subtype).ok_or_else(|| {
                err(format!("unknown compact function subtype '{}' (expected p1..p4, p1a..p4a or e)", sf.subtype))
            })?;
            if sf.rl >= sf.rc {
                return Err(err(format!("lower radial boundary {} must be below the cutoff {}", sf.rl, sf.rc)));
            }
        }
        if matches!(kind, 21 | 22) {
            let (l, r) = (sf.angle_left, sf.angle_right);
            let center = 0.5 * (l + r);
            if l >= r {
                return Err(err(format!("left angle {l} must be below the right angle {r}")));
            }
            if (l < 0.0 && center != 0.0) || (r > 180.0 && center != 180.0) {
                return Err(err(format!(
                    "angle range [{l}, {r}] leaves [0, 180] but is not centred on 0 or 180 degrees"
                )));
            }
            if r - l > 360.0 {
                return Err(err(format!("angle range [{l}, {r}] spans more than 360 degrees")));
            }
        }
        Ok(sf)
    }

    /// Converts lengths given in units of `length` Å to Å.
    pub fn scale_lengths(&mut self, length: f64) {
        self.eta /= length * length;
        self.rs *= length;
        self.rc *= length;
        self.rl *= length;
    }

    /// n2p2's ordering (`operator<` of each SymFnc class); the cutoff type and α are common to all.
    pub fn n2p2_order(&self, other: &SymmetryFunction) -> Ordering {
        let by = |a: f64, b: f64| a.partial_cmp(&b).unwrap_or(Ordering::Equal);
        let e = |x: Option<usize>| x.unwrap_or(0);
        let head = self.ec.cmp(&other.ec).then(self.kind.cmp(&other.kind));
        if head != Ordering::Equal {
            return head;
        }
        match self.kind {
            2 => by(self.rc, other.rc)
                .then(by(self.eta, other.eta))
                .then(by(self.rs, other.rs))
                .then(e(self.e1).cmp(&e(other.e1))),
            3 | 9 => by(self.rc, other.rc)
                .then(by(self.eta, other.eta))
                .then(by(self.rs, other.rs))
                .then(by(self.zeta, other.zeta))
                .then(by(self.lambda, other.lambda))
                .then(e(self.e1).cmp(&e(other.e1)))
                .then(e(self.e2).cmp(&e(other.e2))),
            12 => by(self.rc, other.rc).then(by(self.eta, other.eta)).then(by(self.rs, other.rs)),
            13 => by(self.rc, other.rc)
                .then(by(self.eta, other.eta))
                .then(by(self.rs, other.rs))
                .then(by(self.zeta, other.zeta))
                .then(by(self.lambda, other.lambda)),
            20 => self
                .subtype
                .cmp(&other.subtype)
                .then(e(self.e1).cmp(&e(other.e1)))
                .then(by(self.rc, other.rc))
                .then(by(self.rl, other.rl)),
            _ => self
                .subtype
                .cmp(&other.subtype)
                .then(e(self.e1).cmp(&e(other.e1)))
                .then(e(self.e2).cmp(&e(other.e2)))
                .then(by(self.rc, other.rc))
                .then(by(self.rl, other.rl))
                .then(by(self.angle_left, other.angle_left))
                .then(by(self.angle_right, other.angle_right)),
        }
    }
}

/// The core function of a compact subtype: `p1`..`p4` (optionally with `a`, asymmetric) or `e...`.
pub fn core_from_subtype(subtype: &str) -> Option<CoreFunction> {
    let bytes = subtype.as_bytes();
    if bytes.is_empty() || bytes.len() > 3 {
        return None;
    }
    match bytes[0] {
        b'p' => {
            let kind = match bytes.get(1) {
                Some(b'1') => CoreKind::Poly1,
                Some(b'2') => CoreKind::Poly2,
                Some(b'3') => CoreKind::Poly3,
                Some(b'4') => CoreKind::Poly4,
                _ => return None,
            };
            let asymmetric = match bytes.get(2) {
                None => false,
                Some(b'a') => true,
                _ => return None,
            };
            Some(CoreFunction { kind, asymmetric })
        }
        b'e' => Some(CoreFunction { kind: CoreKind::Exp, asymmetric: false }),
        _ => None,
    }
}

/// Neighbours of one central atom within the largest cutoff (structure of arrays, Å).
#[derive(Clone, Debug, Default)]
pub struct NeighborData {
    pub element: Vec<usize>,
    /// Atomic number as a weight (types 12, 13).
    pub weight: Vec<f64>,
    pub d: Vec<[f64; 3]>,
    pub r: Vec<f64>,
}

impl NeighborData {
    pub fn clear(&mut self) {
        self.element.clear();
        self.weight.clear();
        self.d.clear();
        self.r.clear();
    }

    pub fn push(&mut self, element: usize, weight: f64, d: [f64; 3], r: f64) {
        self.element.push(element);
        self.weight.push(weight);
        self.d.push(d);
        self.r.push(r);
    }

    pub fn len(&self) -> usize {
        self.r.len()
    }

    pub fn is_empty(&self) -> bool {
        self.r.is_empty()
    }
}

/// Parameters of one member of a group and its index in the element's sorted list.
#[derive(Clone, Debug, PartialEq)]
struct Member {
    index: usize,
    eta: f64,
    rs: f64,
    lambda: f64,
    zeta: f64,
    /// ζ is an integer: use integer powers.
    zeta_int: Option<i32>,
    /// 2^(1−ζ).
    norm: f64,
    /// Compact function of the member (radial for type 20, angular in radians for 21/22).
    compact: Option<CompactFunction>,
}

/// Symmetry functions of one element that share a neighbour selection.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    kind: u32,
    e1: Option<usize>,
    e2: Option<usize>,
    rc: f64,
    cutoff: CutoffFunction,
    /// Shared radial compact function of types 21/22.
    radial: Option<CompactFunction>,
    rl: f64,
    members: Vec<Member>,
}

/// Reusable buffers of the group kernels.
#[derive(Clone, Debug, Default)]
pub struct GroupScratch {
    selected: Vec<usize>,
    f: Vec<f64>,
    df: Vec<f64>,
}

/// Builds the evaluation groups of one element's sorted symmetry functions.
pub fn build_groups(functions: &[SymmetryFunction], cutoff_type: CutoffType, alpha: f64) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (index, sf) in functions.iter().enumerate() {
        let key_matches = |g: &Group| {
            g.kind == sf.kind
                && g.e1 == sf.e1
                && g.e2 == sf.e2
                && match sf.kind {
                    20 => true,
                    21 | 22 => {
                        g.rc == sf.rc && g.rl == sf.rl && g.radial.map(|c| c.core) == core_from_subtype(&sf.subtype)
                    }
                    _ => g.rc == sf.rc,
                }
        };
        let zeta_int =
            if (sf.zeta - sf.zeta.round()).abs() <= f64::MIN_POSITIVE { Some(sf.zeta.round() as i32) } else { None };
        let compact = match sf.kind {
            20 => Some(CompactFunction::new(core_from_subtype(&sf.subtype).unwrap(), sf.rl, sf.rc)),
            21 | 22 => {
                let mut core = core_from_subtype(&sf.subtype).unwrap();
                core.asymmetric = false;
                Some(CompactFunction::new(core, sf.angle_left.to_radians(), sf.angle_right.to_radians()))
            }
            _ => None,
        };
        let member = Member {
            index,
            eta: sf.eta,
            rs: sf.rs,
            lambda: sf.lambda,
            zeta: sf.zeta,
            zeta_int,
            norm: (2.0f64).powf(1.0 - sf.zeta),
            compact,
        };
        if let Some(g) = groups.iter_mut().find(|g| key_matches(g)) {
            g.rc = g.rc.max(sf.rc);
            g.members.push(member);
        } else {
            let radial = match sf.kind {
                21 | 22 => Some(CompactFunction::new(core_from_subtype(&sf.subtype).unwrap(), sf.rl, sf.rc)),
                _ => None,
            };
            groups.push(Group {
                kind: sf.kind,
                e1: sf.e1,
                e2: sf.e2,
                rc: sf.rc,
                cutoff: CutoffFunction::new(cutoff_type, sf.rc, alpha),
                radial,
                rl: sf.rl,
                members: vec![member],
            });
        }
    }
    groups
}

#[inline]
fn power(x: f64, member: &Member, exponent_minus_one: bool) -> f64 {
    match member.zeta_int {
        Some(n) => x.powi(if exponent_minus_one { n - 1 } else { n }),
        None => x.powf(if exponent_minus_one { member.zeta - 1.0 } else { member.zeta }),
    }
}

#[inline]
fn add_scaled(target: &mut [f64; 3], s: f64, v: &[f64; 3]) {
    target[0] += s * v[0];
    target[1] += s * v[1];
    target[2] += s * v[2];
}

impl Group {
    /// Number of symmetry functions in the group.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn selects(&self, element: usize) -> bool {
        match (self.e1, self.e2) {
            (None, _) => true,
            (Some(a), None) => element == a,
            (Some(a), Some(b)) => element == a || element == b,
        }
    }

    fn pair_matches(&self, ej: usize, ek: usize) -> bool {
        match (self.e1, self.e2) {
            (Some(a), Some(b)) => (a == ej && b == ek) || (b == ej && a == ek),
            _ => true,
        }
    }

    /// Adds this group's symmetry-function values to `values` (indexed by sorted function index) when
    /// `weights` is `None`; otherwise adds Σ_m weights[m] ∂G_m/∂d_ij to `gradient[j]` for every neighbour.
    pub fn evaluate(
        &self,
        nb: &NeighborData,
        values: &mut [f64],
        weights: Option<&[f64]>,
        gradient: &mut [[f64; 3]],
        scratch: &mut GroupScratch,
    ) {
        match self.kind {
            2 | 12 => self.radial_exponential(nb, values, weights, gradient),
            20 => self.radial_compact(nb, values, weights, gradient),
            3 | 9 | 13 => self.angular_exponential(nb, values, weights, gradient, scratch),
            _ => self.angular_compact(nb, values, weights, gradient, scratch),
        }
    }

    fn radial_exponential(
        &self,
        nb: &NeighborData,
        values: &mut [f64],
        weights: Option<&[f64]>,
        gradient: &mut [[f64; 3]],
    ) {
        let weighted = self.kind == 12;
        for n in 0..nb.len() {
            let r = nb.r[n];
            if r >= self.rc || !self.selects(nb.element[n]) {
                continue;
            }
            let (fc, dfc) = self.cutoff.fdf(r);
            let z = if weighted { nb.weight[n] } else { 1.0 };
            match weights {
                None => {
                    for m in &self.members {
                        let x = r - m.rs;
                        values[m.index] += z * (-m.eta * x * x).exp() * fc;
                    }
                }
                Some(w) => {
                    let mut s = 0.0;
                    for m in &self.members {
                        let x = r - m.rs;
                        let e = z * (-m.eta * x * x).exp();
                        s += w[m.index] * (dfc - 2.0 * m.eta * x * fc) * e;
                    }
                    add_scaled(&mut gradient[n], s / r, &nb.d[n]);
                }
            }
        }
    }

    fn radial_compact(
        &self,
        nb: &NeighborData,
        values: &mut [f64],
        weights: Option<&[f64]>,
        gradient: &mut [[f64; 3]],
    ) {
        for n in 0..nb.len() {
            let r = nb.r[n];
            if r >= self.rc || !self.selects(nb.element[n]) {
                continue;
            }
            let mut s = 0.0;
            for m in &self.members {
                let c = m.compact.as_ref().unwrap();
                if r <= c.left || r >= c.right {
                    continue;
                }
                let (f, df) = c.fdf(r);
                match weights {
                    None => values[m.index] += f,
                    Some(w) => s += w[m.index] * df,
                }
            }
            if weights.is_some() {
                add_scaled(&mut gradient[n], s / r, &nb.d[n]);
            }
        }
    }

    /// Applies the triplet partials (∂T/∂r_ij = a, ∂T/∂r_ik = b, ∂T/∂r_jk = c, ∂T/∂cos θ = q).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn apply_triplet(
        gradient: &mut [[f64; 3]],
        j: usize,
        k: usize,
        dj: &[f64; 3],
        dk: &[f64; 3],
        djk: &[f64; 3],
        rj: f64,
        rk: f64,
        rjk: f64,
        cos: f64,
        (a, b, c, q): (f64, f64, f64, f64),
    ) {
        let inv_jk = 1.0 / (rj * rk);
        let cj = a / rj - q * cos / (rj * rj);
        let ck = b / rk - q * cos / (rk * rk);
        let cross = q * inv_jk;
        let cjk = if rjk > 0.0 { c / rjk } else { 0.0 };
        for x in 0..3 {
            gradient[j][x] += cj * dj[x] + cross * dk[x] - cjk * djk[x];
            gradient[k][x] += ck * dk[x] + cross * dj[x] + cjk * djk[x];
        }
    }

    fn angular_exponential(
        &self,
        nb: &NeighborData,
        values: &mut [f64],
        weights: Option<&[f64]>,
        gradient: &mut [[f64; 3]],
        scratch: &mut GroupScratch,
    ) {
        let narrow = self.kind != 9;
        let weighted = self.kind == 13;
        let rc2 = self.rc * self.rc;
        scratch.selected.clear();
        scratch.f.clear();
        scratch.df.clear();
        for n in 0..nb.len() {
            if nb.r[n] < self.rc && self.selects(nb.element[n]) {
                let (f, df) = self.cutoff.fdf(nb.r[n]);
                scratch.selected.push(n);
                scratch.f.push(f);
                scratch.df.push(df);
            }
        }
        let count = scratch.selected.len();
        let mut sums = vec![0.0; if weights.is_none() { self.members.len() } else { 0 }];
        for a in 0..count {
            let j = scratch.selected[a];
            let (rj, dj, ej) = (nb.r[j], nb.d[j], nb.element[j]);
            let (fj, dfj) = (scratch.f[a], scratch.df[a]);
            for b in (a + 1)..count {
                let k = scratch.selected[b];
                let ek = nb.element[k];
                if !self.pair_matches(ej, ek) {
                    continue;
                }
                let (rk, dk) = (nb.r[k], nb.d[k]);
                let djk = [dk[0] - dj[0], dk[1] - dj[1], dk[2] - dj[2]];
                let r2 = djk[0] * djk[0] + djk[1] * djk[1] + djk[2] * djk[2];
                if narrow && r2 >= rc2 {
                    continue;
                }
                let rjk = r2.sqrt();
                let (fjk, dfjk) = if narrow { self.cutoff.fdf(rjk) } else { (1.0, 0.0) };
                let (fk, dfk) = (scratch.f[b], scratch.df[b]);
                let cos = (dj[0] * dk[0] + dj[1] * dk[1] + dj[2] * dk[2]) / (rj * rk);
                let fc = fj * fk * fjk;
                let z = if weighted { nb.weight[j] * nb.weight[k] } else { 1.0 };
                let mut last: Option<(f64, f64, f64)> = None;
                let mut partials = (0.0, 0.0, 0.0, 0.0);
                for (mi, m) in self.members.iter().enumerate() {
                    let plambda = 1.0 + m.lambda * cos;
                    if plambda <= 0.0 {
                        continue;
                    }
                    let e = match last {
                        Some((eta, rs, e)) if eta == m.eta && rs == m.rs => e,
                        _ => {
                            let (xj, xk, xjk) = (rj - m.rs, rk - m.rs, rjk - m.rs);
                            let mut s = xj * xj + xk * xk;
                            if narrow {
                                s += xjk * xjk;
                            }
                            let e = z * (-m.eta * s).exp();
                            last = Some((m.eta, m.rs, e));
                            e
                        }
                    };
                    let p1 = power(plambda, m, true);
                    match weights {
                        None => sums[mi] += p1 * plambda * e * fc,
                        Some(w) => {
                            let base = w[m.index] * m.norm * e;
                            let pz = p1 * plambda;
                            let two_eta = 2.0 * m.eta;
                            partials.3 += base * m.zeta * m.lambda * p1 * fc;
                            partials.0 += base * pz * (-two_eta * (rj - m.rs) * fc + dfj * fk * fjk);
                            partials.1 += base * pz * (-two_eta * (rk - m.rs) * fc + fj * dfk * fjk);
                            if narrow {
                                partials.2 += base * pz * (-two_eta * (rjk - m.rs) * fc + fj * fk * dfjk);
                            }
                        }
                    }
                }
                if weights.is_some() {
                    Self::apply_triplet(gradient, j, k, &dj, &dk, &djk, rj, rk, rjk, cos, partials);
                }
            }
        }
        if weights.is_none() {
            for (m, s) in self.members.iter().zip(&sums) {
                values[m.index] += s * m.norm;
            }
        }
    }

    fn angular_compact(
        &self,
        nb: &NeighborData,
        values: &mut [f64],
        weights: Option<&[f64]>,
        gradient: &mut [[f64; 3]],
        scratch: &mut GroupScratch,
    ) {
        let narrow = self.kind == 21;
        let radial = self.radial.as_ref().unwrap();
        let rc2 = self.rc * self.rc;
        let rl2 = if self.rl > 0.0 { self.rl * self.rl } else { 0.0 };
        scratch.selected.clear();
        scratch.f.clear();
        scratch.df.clear();
        for n in 0..nb.len() {
            let r = nb.r[n];
            if r < self.rc && r > self.rl && self.selects(nb.element[n]) {
                let (f, df) = radial.fdf(r);
                scratch.selected.push(n);
                scratch.f.push(f);
                scratch.df.push(df);
            }
        }
        let count = scratch.selected.len();
        for a in 0..count {
            let j = scratch.selected[a];
            let (rj, dj, ej) = (nb.r[j], nb.d[j], nb.element[j]);
            let (fj, dfj) = (scratch.f[a], scratch.df[a]);
            for b in (a + 1)..count {
                let k = scratch.selected[b];
                if !self.pair_matches(ej, nb.element[k]) {
                    continue;
                }
                let (rk, dk) = (nb.r[k], nb.d[k]);
                let djk = [dk[0] - dj[0], dk[1] - dj[1], dk[2] - dj[2]];
                let r2 = djk[0] * djk[0] + djk[1] * djk[1] + djk[2] * djk[2];
                let (mut fjk, mut dfjk) = (1.0, 0.0);
                let rjk = r2.sqrt();
                if narrow {
                    if r2 >= rc2 || r2 <= rl2 {
                        continue;
                    }
                    (fjk, dfjk) = radial.fdf(rjk);
                }
                let cos = (dj[0] * dk[0] + dj[1] * dk[1] + dj[2] * dk[2]) / (rj * rk);
                if cos <= -1.0 || cos >= 1.0 {
                    continue;
                }
                let theta = cos.acos();
                let (fk, dfk) = (scratch.f[b], scratch.df[b]);
                let rad = fj * fk * fjk;
                let mut partials = (0.0, 0.0, 0.0, 0.0);
                let dtheta_dcos = -1.0 / (1.0 - cos * cos).sqrt();
                for m in &self.members {
                    let c = m.compact.as_ref().unwrap();
                    if theta < c.left || theta > c.right {
                        continue;
                    }
                    let (ang, dang) = c.fdf(theta);
                    match weights {
                        None => values[m.index] += rad * ang,
                        Some(w) => {
                            let wm = w[m.index];
                            partials.3 += wm * rad * dang * dtheta_dcos;
                            partials.0 += wm * ang * dfj * fk * fjk;
                            partials.1 += wm * ang * fj * dfk * fjk;
                            partials.2 += wm * ang * fj * fk * dfjk;
                        }
                    }
                }
                if weights.is_some() {
                    Self::apply_triplet(gradient, j, k, &dj, &dk, &djk, rj, rk, rjk, cos, partials);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn parse(line: &str) -> SymmetryFunction {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let lookup = |s: &str| match s {
            "H" => Some(0),
            "O" => Some(1),
            _ => None,
        };
        SymmetryFunction::parse(Path::new("input.nn"), 1, &args, &lookup).unwrap()
    }

    fn random_neighbors(seed: u64, count: usize) -> NeighborData {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut nb = NeighborData::default();
        while nb.len() < count {
            let d: [f64; 3] = [rng.gen_range(-4.5..4.5), rng.gen_range(-4.5..4.5), rng.gen_range(-4.5..4.5)];
            let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            if r > 0.7 && r < 5.5 {
                let e = rng.gen_range(0..2);
                nb.push(e, if e == 0 { 1.0 } else { 8.0 }, d, r);
            }
        }
        nb
    }

    fn values_of(groups: &[Group], n: usize, nb: &NeighborData) -> Vec<f64> {
        let mut v = vec![0.0; n];
        let mut scratch = GroupScratch::default();
        for g in groups {
            g.evaluate(nb, &mut v, None, &mut [], &mut scratch);
        }
        v
    }

    /// For every symmetry-function type and cutoff type: the gradient pass with unit weight on one
    /// function equals central finite differences of that function's value.
    #[test]
    fn gradients_of_every_type_match_finite_differences() {
        let lines = [
            "H 2 O 0.3 1.2 5.0",
            "H 3 O H 0.05 -1.0 3.0 5.0",
            "H 3 O O 0.02 1.0 2.5 5.0 0.5",
            "H 9 H O 0.04 1.0 1.5 5.0",
            "H 12 0.2 0.8 5.0",
            "H 13 0.03 0.4 -1.0 2.0 5.0",
            "H 20 O -5.0 5.0 p2",
            "H 20 H 1.0 4.5 p3a",
            "H 20 O 0.5 4.5 e",
            "H 21 O H -5.0 5.0 -90.0 90.0 p2",
            "H 21 O O 1.0 5.0 60.0 180.0 p4a",
            "H 22 H O -5.0 5.0 90.0 270.0 p1",
            "H 22 O O 0.0 5.0 30.0 150.0 e",
        ];
        for cutoff_code in [1, 2, 6] {
            let cutoff = CutoffType::from_code(cutoff_code).unwrap();
            let functions: Vec<SymmetryFunction> = lines.iter().map(|l| parse(l)).collect();
            let groups = build_groups(&functions, cutoff, 0.1);
            let nb = random_neighbors(11 + cutoff_code as u64, 14);
            let n = functions.len();
            for f in 0..n {
                let mut w = vec![0.0; n];
                w[f] = 1.0;
                let mut gradient = vec![[0.0; 3]; nb.len()];
                let mut scratch = GroupScratch::default();
                for g in &groups {
                    g.evaluate(&nb, &mut vec![0.0; n], Some(&w), &mut gradient, &mut scratch);
                }
                let h = 1e-6;
                for j in 0..nb.len() {
                    for x in 0..3 {
                        let shifted = |s: f64| {
                            let mut m = nb.clone();
                            m.d[j][x] += s;
                            let d = m.d[j];
                            m.r[j] = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                            values_of(&groups, n, &m)[f]
                        };
                        let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
                        assert!(
                            (numeric - gradient[j][x]).abs() < 1e-6 * (1.0 + numeric.abs()),
                            "cutoff {cutoff_code}, '{}', neighbour {j}, axis {x}: numeric {numeric} vs {}",
                            lines[f],
                            gradient[j][x]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn radial_value_matches_definition() {
        let sf = parse("H 2 O 0.3 1.2 5.0");
        let groups = build_groups(std::slice::from_ref(&sf), CutoffType::Cos, 0.0);
        let mut nb = NeighborData::default();
        nb.push(1, 8.0, [2.0, 0.0, 0.0], 2.0);
        nb.push(0, 1.0, [0.0, 1.0, 0.0], 1.0);
        let g = values_of(&groups, 1, &nb)[0];
        let expected = (-0.3f64 * 0.8 * 0.8).exp() * 0.5 * ((std::f64::consts::PI * 2.0 / 5.0).cos() + 1.0);
        assert!((g - expected).abs() < 1e-15);
    }

    #[test]
    fn bad_lines_name_the_problem() {
        let lookup = |s: &str| if s == "H" { Some(0) } else { None };
        let args = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let e = SymmetryFunction::parse(Path::new("input.nn"), 7, &args("H 2 Xx 0.1 0 6"), &lookup).unwrap_err();
        assert!(e.to_string().contains("line 7") && e.to_string().contains("Xx"), "{e}");
        let e = SymmetryFunction::parse(Path::new("input.nn"), 3, &args("H 5 H 0.1 0 6"), &lookup).unwrap_err();
        assert!(e.to_string().contains("type 5"), "{e}");
        let e = SymmetryFunction::parse(Path::new("input.nn"), 3, &args("H 20 H 1.0 6.0 q2"), &lookup).unwrap_err();
        assert!(e.to_string().contains("q2"), "{e}");
    }
}
