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
//! | 23 | `ec 23 r_l r_c sub` | Σ_j Z_j C(r_ij) |
//! | 24 | `ec 24 r_l r_c θ_l θ_r sub` | Σ_j<k Z_j Z_k C(r_ij) C(r_ik) C(r_jk) A(θ_ijk) (all pairs) |
//! | 25 | `ec 25 r_l r_c θ_l θ_r sub` | Σ_j<k Z_j Z_k C(r_ij) C(r_ik) A(θ_ijk) (all pairs) |
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

/// The symmetry-function kernels the evaluator implements, one per n2p2 type. The n2p2 type numbers appear only
/// where input.nn is read or written ([`from_n2p2`](Self::from_n2p2), [`n2p2_type`](Self::n2p2_type)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymmetryFunctionKind {
    /// Type 2: Σ_j∈e1 exp(−η(r_ij − r_s)²) f_c(r_ij).
    Radial,
    /// Type 3: angular with the r_jk terms (narrow).
    AngularNarrow,
    /// Type 9: angular without the r_jk terms (wide).
    AngularWide,
    /// Type 12: radial over all neighbours, weighted by Z_j.
    WeightedRadial,
    /// Type 13: narrow angular over all pairs, weighted by Z_j Z_k.
    WeightedAngular,
    /// Type 20: Σ_j∈e1 C(r_ij).
    CompactRadial,
    /// Type 21: Σ_j<k C(r_ij) C(r_ik) C(r_jk) A(θ_ijk).
    CompactAngularNarrow,
    /// Type 22: Σ_j<k C(r_ij) C(r_ik) A(θ_ijk).
    CompactAngularWide,
    /// Type 23: Σ_j Z_j C(r_ij).
    WeightedCompactRadial,
    /// Type 24: as 21 over all pairs, weighted by Z_j Z_k.
    WeightedCompactAngularNarrow,
    /// Type 25: as 22 over all pairs, weighted by Z_j Z_k.
    WeightedCompactAngularWide,
}

impl SymmetryFunctionKind {
    /// Every kind, in increasing n2p2 type number.
    pub const ALL: [SymmetryFunctionKind; 11] = [
        Self::Radial,
        Self::AngularNarrow,
        Self::AngularWide,
        Self::WeightedRadial,
        Self::WeightedAngular,
        Self::CompactRadial,
        Self::CompactAngularNarrow,
        Self::CompactAngularWide,
        Self::WeightedCompactRadial,
        Self::WeightedCompactAngularNarrow,
        Self::WeightedCompactAngularWide,
    ];

    /// The kind of n2p2 type `number` (the second argument of `symfunction_short`), if supported.
    pub fn from_n2p2(number: u32) -> Option<SymmetryFunctionKind> {
        Self::ALL.into_iter().find(|k| k.n2p2_type() == number)
    }

    /// The n2p2 type number, as written in input.nn.
    pub fn n2p2_type(self) -> u32 {
        match self {
            Self::Radial => 2,
            Self::AngularNarrow => 3,
            Self::AngularWide => 9,
            Self::WeightedRadial => 12,
            Self::WeightedAngular => 13,
            Self::CompactRadial => 20,
            Self::CompactAngularNarrow => 21,
            Self::CompactAngularWide => 22,
            Self::WeightedCompactRadial => 23,
            Self::WeightedCompactAngularNarrow => 24,
            Self::WeightedCompactAngularWide => 25,
        }
    }

    /// The supported n2p2 type numbers, comma-separated (for error messages).
    pub fn supported_n2p2_types() -> String {
        Self::ALL.iter().map(|k| k.n2p2_type().to_string()).collect::<Vec<_>>().join(", ")
    }

    /// Weighted by the atomic numbers of the neighbours, over neighbours of every element.
    pub fn is_weighted(self) -> bool {
        matches!(
            self,
            Self::WeightedRadial
                | Self::WeightedAngular
                | Self::WeightedCompactRadial
                | Self::WeightedCompactAngularNarrow
                | Self::WeightedCompactAngularWide
        )
    }

    /// Built from compact functions (Bircher et al.) rather than exponentials and a cutoff function.
    pub fn is_compact(self) -> bool {
        matches!(
            self,
            Self::CompactRadial
                | Self::CompactAngularNarrow
                | Self::CompactAngularWide
                | Self::WeightedCompactRadial
                | Self::WeightedCompactAngularNarrow
                | Self::WeightedCompactAngularWide
        )
    }

    /// A sum over neighbour pairs (j, k) rather than over neighbours.
    pub fn is_angular(self) -> bool {
        !matches!(self, Self::Radial | Self::WeightedRadial | Self::CompactRadial | Self::WeightedCompactRadial)
    }

    /// Angular with the r_jk terms.
    pub fn is_narrow(self) -> bool {
        matches!(
            self,
            Self::AngularNarrow
                | Self::WeightedAngular
                | Self::CompactAngularNarrow
                | Self::WeightedCompactAngularNarrow
        )
    }

    /// Exponential angular kinds (3, 9, 13), which have a ζ.
    fn is_exponential_angular(self) -> bool {
        self.is_angular() && !self.is_compact()
    }
}

/// One symmetry function, parameters in Å (after unit conversion), angles in degrees.
#[derive(Clone, Debug, PartialEq)]
pub struct SymmetryFunction {
    pub kind: SymmetryFunctionKind,
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
        let number: u32 = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err("second argument must be the symmetry function type".into()))?;
        let kind = SymmetryFunctionKind::from_n2p2(number).ok_or_else(|| {
            err(format!("type {number} is not supported (supported: {})", SymmetryFunctionKind::supported_n2p2_types()))
        })?;
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
                Err(err(format!("type {number} needs {} arguments after the element, found {}", n - 1, args.len() - 1)))
            } else {
                Ok(())
            }
        };
        match kind {
            SymmetryFunctionKind::Radial => {
                expect(6)?;
                sf.e1 = Some(elem(2)?);
                (sf.eta, sf.rs, sf.rc) = (num(3)?, num(4)?, num(5)?);
            }
            SymmetryFunctionKind::AngularNarrow | SymmetryFunctionKind::AngularWide => {
                expect(8)?;
                let (a, b) = (elem(2)?, elem(3)?);
                (sf.e1, sf.e2) = (Some(a.min(b)), Some(a.max(b)));
                (sf.eta, sf.lambda, sf.zeta, sf.rc) = (num(4)?, num(5)?, num(6)?, num(7)?);
                if args.len() > 8 {
                    sf.rs = num(8)?;
                }
            }
            SymmetryFunctionKind::WeightedRadial => {
                expect(5)?;
                (sf.eta, sf.rs, sf.rc) = (num(2)?, num(3)?, num(4)?);
            }
            SymmetryFunctionKind::WeightedAngular => {
                expect(7)?;
                (sf.eta, sf.rs, sf.lambda, sf.zeta, sf.rc) = (num(2)?, num(3)?, num(4)?, num(5)?, num(6)?);
            }
            SymmetryFunctionKind::CompactRadial => {
                expect(6)?;
                sf.e1 = Some(elem(2)?);
                (sf.rl, sf.rc) = (num(3)?, num(4)?);
                sf.subtype = args[5].clone();
            }
            SymmetryFunctionKind::WeightedCompactRadial => {
                expect(5)?;
                (sf.rl, sf.rc) = (num(2)?, num(3)?);
                sf.subtype = args[4].clone();
            }
            SymmetryFunctionKind::WeightedCompactAngularNarrow | SymmetryFunctionKind::WeightedCompactAngularWide => {
                expect(7)?;
                (sf.rl, sf.rc, sf.angle_left, sf.angle_right) = (num(2)?, num(3)?, num(4)?, num(5)?);
                sf.subtype = args[6].clone();
            }
            SymmetryFunctionKind::CompactAngularNarrow | SymmetryFunctionKind::CompactAngularWide => {
                expect(9)?;
                let (a, b) = (elem(2)?, elem(3)?);
                (sf.e1, sf.e2) = (Some(a.min(b)), Some(a.max(b)));
                (sf.rl, sf.rc, sf.angle_left, sf.angle_right) = (num(4)?, num(5)?, num(6)?, num(7)?);
                sf.subtype = args[8].clone();
            }
        }
        if sf.rc <= 0.0 {
            return Err(err(format!("cutoff radius {} must be positive", sf.rc)));
        }
        if kind.is_exponential_angular() && sf.zeta <= 0.0 {
            return Err(err(format!("zeta = {} must be positive", sf.zeta)));
        }
        if kind.is_compact() {
            core_from_subtype(&sf.subtype).ok_or_else(|| {
                err(format!("unknown compact function subtype '{}' (expected p1..p4, p1a..p4a or e)", sf.subtype))
            })?;
            if sf.rl >= sf.rc {
                return Err(err(format!("lower radial boundary {} must be below the cutoff {}", sf.rl, sf.rc)));
            }
        }
        if kind.is_compact() && kind.is_angular() {
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
        let head = self.ec.cmp(&other.ec).then(self.kind.n2p2_type().cmp(&other.kind.n2p2_type()));
        if head != Ordering::Equal {
            return head;
        }
        match self.kind {
            SymmetryFunctionKind::Radial => by(self.rc, other.rc)
                .then(by(self.eta, other.eta))
                .then(by(self.rs, other.rs))
                .then(e(self.e1).cmp(&e(other.e1))),
            SymmetryFunctionKind::AngularNarrow | SymmetryFunctionKind::AngularWide => by(self.rc, other.rc)
                .then(by(self.eta, other.eta))
                .then(by(self.rs, other.rs))
                .then(by(self.zeta, other.zeta))
                .then(by(self.lambda, other.lambda))
                .then(e(self.e1).cmp(&e(other.e1)))
                .then(e(self.e2).cmp(&e(other.e2))),
            SymmetryFunctionKind::WeightedRadial => {
                by(self.rc, other.rc).then(by(self.eta, other.eta)).then(by(self.rs, other.rs))
            }
            SymmetryFunctionKind::WeightedAngular => by(self.rc, other.rc)
                .then(by(self.eta, other.eta))
                .then(by(self.rs, other.rs))
                .then(by(self.zeta, other.zeta))
                .then(by(self.lambda, other.lambda)),
            SymmetryFunctionKind::CompactRadial => self
                .subtype
                .cmp(&other.subtype)
                .then(e(self.e1).cmp(&e(other.e1)))
                .then(by(self.rc, other.rc))
                .then(by(self.rl, other.rl)),
            // Type 23 compares as the angular compact types (its e2 and angles are unset).
            SymmetryFunctionKind::WeightedCompactRadial
            | SymmetryFunctionKind::CompactAngularNarrow
            | SymmetryFunctionKind::CompactAngularWide
            | SymmetryFunctionKind::WeightedCompactAngularNarrow
            | SymmetryFunctionKind::WeightedCompactAngularWide => self
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
    /// Index of the member's (η, r_s) in the group's `radial_terms`.
    radial_term: usize,
    /// Index of the member's (λ, ζ) in the group's `angular_terms`.
    angular_term: usize,
    /// Angular member including the r_jk terms (types 3, 13, 21).
    narrow: bool,
}

/// A radial factor exp(−η Σ (r − r_s)²) shared by members of a group; `narrow` includes r_jk.
#[derive(Clone, Copy, Debug, PartialEq)]
struct RadialTerm {
    eta: f64,
    rs: f64,
    narrow: bool,
}

/// An angular factor (1 + λ cos θ)^ζ shared by members of a group.
#[derive(Clone, Debug, PartialEq)]
struct AngularTerm {
    lambda: f64,
    zeta: f64,
    zeta_int: Option<i32>,
}

/// Symmetry functions of one element that share a neighbour selection.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Kind of the group's first member (narrow and wide exponential angular members share a group).
    kind: SymmetryFunctionKind,
    e1: Option<usize>,
    e2: Option<usize>,
    rc: f64,
    cutoff: CutoffFunction,
    /// Shared radial compact function of types 21/22.
    radial: Option<CompactFunction>,
    rl: f64,
    members: Vec<Member>,
    /// Distinct (η, r_s, narrow) of the members of exponential angular groups; types 3 (narrow) and 9
    /// (wide) with the same elements and cutoff share one group and one pass over the pairs.
    radial_terms: Vec<RadialTerm>,
    /// The group has members without the r_jk terms (type 9).
    has_wide: bool,
    /// Distinct (λ, ζ) of the members of exponential angular groups.
    angular_terms: Vec<AngularTerm>,
}

/// Reusable buffers of the group kernels.
#[derive(Clone, Debug, Default)]
pub struct GroupScratch {
    selected: Vec<usize>,
    f: Vec<f64>,
    df: Vec<f64>,
    /// exp(−η (r − r_s)²) per selected neighbour and radial term.
    exps: Vec<f64>,
    /// Positions in `selected` of the first and second neighbour element of a mixed pair.
    first: Vec<usize>,
    second: Vec<usize>,
    /// Neighbours split by element (mixed pairs) or not.
    split: bool,
    sums: Vec<f64>,
    member_weights: Vec<f64>,
    radial: Vec<f64>,
    angular: Vec<f64>,
    /// Pairs (j, k) that contribute, as found by the values pass.
    triplets: Vec<Triplet>,
    /// exp(−η Σ (r − r_s)²) per triplet and radial term (exponential angular groups).
    triplet_exps: Vec<f64>,
}

/// Geometry of one contributing neighbour pair, kept from the values pass for the gradient pass.
#[derive(Clone, Copy, Debug, Default)]
struct Triplet {
    /// Positions of j and k in the group's selection.
    a: u32,
    b: u32,
    rjk: f64,
    cos: f64,
    /// Radial factor of r_jk and its derivative (1 and 0 for the wide types).
    fjk: f64,
    dfjk: f64,
    /// Product of the three (two) radial factors.
    fc: f64,
    /// θ_ijk (compact types).
    theta: f64,
    /// Weight Z_j Z_k of the weighted types (1 otherwise), included in `fc`.
    z: f64,
}

/// Builds the evaluation groups of one element's sorted symmetry functions.
pub fn build_groups(functions: &[SymmetryFunction], cutoff_type: CutoffType, alpha: f64) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (index, sf) in functions.iter().enumerate() {
        use SymmetryFunctionKind as K;
        let exponential_angular = |kind: K| matches!(kind, K::AngularNarrow | K::AngularWide);
        let key_matches = |g: &Group| {
            (g.kind == sf.kind || (exponential_angular(g.kind) && exponential_angular(sf.kind)))
                && g.e1 == sf.e1
                && g.e2 == sf.e2
                && match sf.kind {
                    K::CompactRadial | K::WeightedCompactRadial => true,
                    K::CompactAngularNarrow
                    | K::CompactAngularWide
                    | K::WeightedCompactAngularNarrow
                    | K::WeightedCompactAngularWide => {
                        g.rc == sf.rc && g.rl == sf.rl && g.radial.map(|c| c.core) == core_from_subtype(&sf.subtype)
                    }
                    K::Radial | K::AngularNarrow | K::AngularWide | K::WeightedRadial | K::WeightedAngular => {
                        g.rc == sf.rc
                    }
                }
        };
        let zeta_int =
            if (sf.zeta - sf.zeta.round()).abs() <= f64::MIN_POSITIVE { Some(sf.zeta.round() as i32) } else { None };
        let compact = match (sf.kind.is_compact(), sf.kind.is_angular()) {
            (true, false) => Some(CompactFunction::new(core_from_subtype(&sf.subtype).unwrap(), sf.rl, sf.rc)),
            (true, true) => {
                let mut core = core_from_subtype(&sf.subtype).unwrap();
                core.asymmetric = false;
                Some(CompactFunction::new(core, sf.angle_left.to_radians(), sf.angle_right.to_radians()))
            }
            (false, _) => None,
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
            radial_term: 0,
            angular_term: 0,
            narrow: sf.kind != K::AngularWide,
        };
        if let Some(g) = groups.iter_mut().find(|g| key_matches(g)) {
            g.rc = g.rc.max(sf.rc);
            g.members.push(member);
        } else {
            let radial = if sf.kind.is_compact() && sf.kind.is_angular() {
                Some(CompactFunction::new(core_from_subtype(&sf.subtype).unwrap(), sf.rl, sf.rc))
            } else {
                None
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
                radial_terms: Vec::new(),
                has_wide: false,
                angular_terms: Vec::new(),
            });
        }
    }
    for g in &mut groups {
        g.has_wide = g.members.iter().any(|m| !m.narrow);
        for m in &mut g.members {
            let radial = RadialTerm { eta: m.eta, rs: m.rs, narrow: m.narrow };
            m.radial_term = g.radial_terms.iter().position(|&t| t == radial).unwrap_or_else(|| {
                g.radial_terms.push(radial);
                g.radial_terms.len() - 1
            });
            let angular = AngularTerm { lambda: m.lambda, zeta: m.zeta, zeta_int: m.zeta_int };
            m.angular_term = g.angular_terms.iter().position(|t| *t == angular).unwrap_or_else(|| {
                g.angular_terms.push(angular);
                g.angular_terms.len() - 1
            });
        }
    }
    groups
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

    /// Indices (in the element's sorted function list) of the group's symmetry functions.
    pub fn function_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.members.iter().map(|m| m.index)
    }

    fn selects(&self, element: usize) -> bool {
        match (self.e1, self.e2) {
            (None, _) => true,
            (Some(a), None) => element == a,
            (Some(a), Some(b)) => element == a || element == b,
        }
    }

    /// Adds this group's raw symmetry-function values to `values` (indexed by the element's sorted function
    /// index). Fills `scratch` with the neighbour selection and pair data that [`gradient`](Self::gradient)
    /// reuses.
    pub fn values(&self, nb: &NeighborData, values: &mut [f64], scratch: &mut GroupScratch) {
        use SymmetryFunctionKind as K;
        match self.kind {
            K::Radial | K::WeightedRadial => self.radial_exponential_values(nb, values, scratch),
            K::CompactRadial | K::WeightedCompactRadial => self.radial_compact(nb, values, None, &mut []),
            K::AngularNarrow | K::AngularWide | K::WeightedAngular => {
                self.angular_exponential_values(nb, values, scratch)
            }
            K::CompactAngularNarrow
            | K::CompactAngularWide
            | K::WeightedCompactAngularNarrow
            | K::WeightedCompactAngularWide => self.angular_compact_values(nb, values, scratch),
        }
    }

    /// Adds Σ_m weights[m] ∂G_m/∂d_ij to `gradient[j]` for every neighbour j. Must follow a call of
    /// [`values`](Self::values) with the same neighbours and scratch.
    pub fn gradient(&self, nb: &NeighborData, weights: &[f64], gradient: &mut [[f64; 3]], scratch: &mut GroupScratch) {
        use SymmetryFunctionKind as K;
        match self.kind {
            K::Radial | K::WeightedRadial => self.radial_exponential_gradient(nb, weights, gradient, scratch),
            K::CompactRadial | K::WeightedCompactRadial => self.radial_compact(nb, &mut [], Some(weights), gradient),
            K::AngularNarrow | K::AngularWide | K::WeightedAngular => {
                self.angular_exponential_gradient(nb, weights, gradient, scratch)
            }
            K::CompactAngularNarrow
            | K::CompactAngularWide
            | K::WeightedCompactAngularNarrow
            | K::WeightedCompactAngularWide => self.angular_compact_gradient(nb, weights, gradient, scratch),
        }
    }

    fn radial_exponential_values(&self, nb: &NeighborData, values: &mut [f64], s: &mut GroupScratch) {
        let weighted = self.kind.is_weighted();
        s.selected.clear();
        s.f.clear();
        s.df.clear();
        s.exps.clear();
        for n in 0..nb.len() {
            let r = nb.r[n];
            if r >= self.rc || !self.selects(nb.element[n]) {
                continue;
            }
            let (fc, dfc) = self.cutoff.fdf(r);
            let z = if weighted { nb.weight[n] } else { 1.0 };
            s.selected.push(n);
            s.f.push(fc);
            s.df.push(dfc);
            for m in &self.members {
                let x = r - m.rs;
                let e = z * (-m.eta * x * x).exp();
                s.exps.push(e);
                values[m.index] += e * fc;
            }
        }
    }

    /// Gradient of the radial exponential group from the exponentials kept by the values pass.
    fn radial_exponential_gradient(
        &self,
        nb: &NeighborData,
        weights: &[f64],
        gradient: &mut [[f64; 3]],
        s: &GroupScratch,
    ) {
        let count = self.members.len();
        for (a, &n) in s.selected.iter().enumerate() {
            let r = nb.r[n];
            let (fc, dfc) = (s.f[a], s.df[a]);
            let exps = &s.exps[a * count..(a + 1) * count];
            let mut sum = 0.0;
            for (m, &e) in self.members.iter().zip(exps) {
                sum += weights[m.index] * (dfc - 2.0 * m.eta * (r - m.rs) * fc) * e;
            }
            add_scaled(&mut gradient[n], sum / r, &nb.d[n]);
        }
    }

    fn radial_compact(
        &self,
        nb: &NeighborData,
        values: &mut [f64],
        weights: Option<&[f64]>,
        gradient: &mut [[f64; 3]],
    ) {
        let weighted = self.kind.is_weighted();
        for n in 0..nb.len() {
            let r = nb.r[n];
            if r >= self.rc || !self.selects(nb.element[n]) {
                continue;
            }
            let z = if weighted { nb.weight[n] } else { 1.0 };
            let mut s = 0.0;
            for m in &self.members {
                let c = m.compact.as_ref().unwrap();
                if r <= c.left || r >= c.right {
                    continue;
                }
                let (f, df) = c.fdf(r);
                match weights {
                    None => values[m.index] += z * f,
                    Some(w) => s += z * w[m.index] * df,
                }
            }
            if weights.is_some() {
                add_scaled(&mut gradient[n], s / r, &nb.d[n]);
            }
        }
    }

    /// Applies the triplet partials (∂T/∂r_ij = a, ∂T/∂r_ik = b, ∂T/∂r_jk = c, ∂T/∂cos θ = q).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
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

    /// Selects the neighbours within the group's reach: stores their index, the radial factor (cutoff
    /// function or compact function) and its derivative, and splits them by element for mixed pairs.
    fn select(&self, nb: &NeighborData, s: &mut GroupScratch, compact: bool) {
        s.selected.clear();
        s.f.clear();
        s.df.clear();
        s.exps.clear();
        s.first.clear();
        s.second.clear();
        s.triplets.clear();
        s.triplet_exps.clear();
        let split = matches!((self.e1, self.e2), (Some(a), Some(b)) if a != b);
        let lower = if compact { self.rl } else { f64::NEG_INFINITY };
        for n in 0..nb.len() {
            let r = nb.r[n];
            if r < self.rc && r > lower && self.selects(nb.element[n]) {
                let (f, df) = if compact { self.radial.as_ref().unwrap().fdf(r) } else { self.cutoff.fdf(r) };
                if !split || Some(nb.element[n]) == self.e1 {
                    s.first.push(s.selected.len());
                } else {
                    s.second.push(s.selected.len());
                }
                s.selected.push(n);
                s.f.push(f);
                s.df.push(df);
                for t in &self.radial_terms {
                    s.exps.push((-t.eta * (r - t.rs) * (r - t.rs)).exp());
                }
            }
        }
        s.split = split;
    }

    /// Calls `visit(a, b)` for every selected pair of the group's element combination (positions in
    /// `selected`).
    #[inline(always)]
    fn for_each_pair(s: &GroupScratch, mut visit: impl FnMut(usize, usize)) {
        for fa in 0..s.first.len() {
            let a = s.first[fa];
            if s.split {
                for &b in &s.second {
                    visit(a, b);
                }
            } else {
                for &b in &s.first[fa + 1..] {
                    visit(a, b);
                }
            }
        }
    }

    fn angular_exponential_values(&self, nb: &NeighborData, values: &mut [f64], s: &mut GroupScratch) {
        self.select(nb, s, false);
        let weighted = self.kind.is_weighted();
        let rc2 = self.rc * self.rc;
        let ne = self.radial_terms.len();
        let mut sums = std::mem::take(&mut s.sums);
        sums.clear();
        let na = self.angular_terms.len();
        // Dense (angular term × radial term) sums; each member is one cell.
        sums.resize(na * ne + ne, 0.0);
        let mut powers = std::mem::take(&mut s.angular);
        powers.resize(2 * self.angular_terms.len(), 0.0);
        let mut triplets = std::mem::take(&mut s.triplets);
        let mut triplet_exps = std::mem::take(&mut s.triplet_exps);
        // Locals the compiler can keep in registers across the pushes below.
        let (radial_terms, angular_terms) = (&self.radial_terms[..], &self.angular_terms[..]);
        let (has_wide, cutoff) = (self.has_wide, self.cutoff);
        let (selected, fvals, nexps) = (&s.selected[..], &s.f[..], &s.exps[..]);
        Self::for_each_pair(s, |a, b| {
            let (j, k) = (selected[a], selected[b]);
            let (dj, dk) = (nb.d[j], nb.d[k]);
            let djk = [dk[0] - dj[0], dk[1] - dj[1], dk[2] - dj[2]];
            let r2 = djk[0] * djk[0] + djk[1] * djk[1] + djk[2] * djk[2];
            let in_range = r2 < rc2;
            if !in_range && !has_wide {
                return;
            }
            let rjk = r2.sqrt();
            let (fjk, dfjk) = if in_range { cutoff.fdf(rjk) } else { (0.0, 0.0) };
            let cos = (dj[0] * dk[0] + dj[1] * dk[1] + dj[2] * dk[2]) / (nb.r[j] * nb.r[k]);
            let z = if weighted { nb.weight[j] * nb.weight[k] } else { 1.0 };
            let fc_wide = fvals[a] * fvals[b];
            let fc = fc_wide * fjk;
            let first_exp = triplet_exps.len();
            for (t, term) in radial_terms.iter().enumerate() {
                let e = z * nexps[a * ne + t] * nexps[b * ne + t];
                triplet_exps.push(if !term.narrow {
                    e
                } else if in_range {
                    let x = rjk - term.rs;
                    e * (-term.eta * x * x).exp()
                } else {
                    0.0
                });
            }
            let exps = &triplet_exps[first_exp..];
            let angular = angular_powers(angular_terms, cos, &mut powers);
            let (cells, radial) = sums.split_at_mut(na * ne);
            for (t, (term, &e)) in radial_terms.iter().zip(exps).enumerate() {
                radial[t] = e * if term.narrow { fc } else { fc_wide };
            }
            for u in 0..na {
                let pz = angular[2 * u + 1];
                for (cell, &r) in cells[u * ne..(u + 1) * ne].iter_mut().zip(radial.iter()) {
                    *cell += pz * r;
                }
            }
            triplets.push(Triplet { a: a as u32, b: b as u32, rjk, cos, fjk, dfjk, fc, theta: 0.0, z });
        });
        for m in &self.members {
            values[m.index] += sums[m.angular_term * ne + m.radial_term] * m.norm;
        }
        s.sums = sums;
        s.angular = powers;
        s.triplets = triplets;
        s.triplet_exps = triplet_exps;
    }

    fn angular_exponential_gradient(
        &self,
        nb: &NeighborData,
        weights: &[f64],
        gradient: &mut [[f64; 3]],
        s: &mut GroupScratch,
    ) {
        let ne = self.radial_terms.len();
        // Weights as dense (angular term × radial term) tables: W = w·2^(1−ζ) and W·ζλ.
        let na = self.angular_terms.len();
        s.member_weights.clear();
        s.member_weights.resize(2 * na * ne, 0.0);
        for m in &self.members {
            let w = weights[m.index] * m.norm;
            let cell = m.radial_term * na + m.angular_term;
            s.member_weights[cell] += w;
            s.member_weights[na * ne + cell] += w * m.zeta * m.lambda;
        }
        s.sums.clear();
        s.sums.resize(2 * na, 0.0);
        s.radial.resize(4 * ne, 0.0);
        s.angular.resize(2 * self.angular_terms.len(), 0.0);
        for (ti, t) in s.triplets.iter().enumerate() {
            let (a, b) = (t.a as usize, t.b as usize);
            let (j, k) = (s.selected[a], s.selected[b]);
            let (rj, rk, dj, dk) = (nb.r[j], nb.r[k], nb.d[j], nb.d[k]);
            let djk = [dk[0] - dj[0], dk[1] - dj[1], dk[2] - dj[2]];
            let (fj, dfj, fk, dfk) = (s.f[a], s.df[a], s.f[b], s.df[b]);
            let exps = &s.triplet_exps[ti * ne..(ti + 1) * ne];
            for (u, (term, &e)) in self.radial_terms.iter().zip(exps).enumerate() {
                let two_eta = 2.0 * term.eta;
                let (fjk, dfjk) = if term.narrow { (t.fjk, t.dfjk) } else { (1.0, 0.0) };
                let fc = fj * fk * fjk;
                s.radial[4 * u] = e * fc;
                s.radial[4 * u + 1] = e * (-two_eta * (rj - term.rs) * fc + dfj * fk * fjk);
                s.radial[4 * u + 2] = e * (-two_eta * (rk - term.rs) * fc + fj * dfk * fjk);
                s.radial[4 * u + 3] =
                    if term.narrow { e * (-two_eta * (t.rjk - term.rs) * fc + fj * fk * dfjk) } else { 0.0 };
            }
            let angular = angular_powers(&self.angular_terms, t.cos, &mut s.angular);
            // A_t = Σ_u W_tu (1+λcos)^ζ, B_t = Σ_u W_tu ζλ (1+λcos)^(ζ−1), contracted with the radial factors.
            let (pz, p1) = s.sums.split_at_mut(na);
            for u in 0..na {
                p1[u] = angular[2 * u];
                pz[u] = angular[2 * u + 1];
            }
            let (w, wz) = s.member_weights.split_at(na * ne);
            let mut partials = (0.0, 0.0, 0.0, 0.0);
            for (t, r) in s.radial.chunks_exact(4).enumerate() {
                let (wt, wzt) = (&w[t * na..(t + 1) * na], &wz[t * na..(t + 1) * na]);
                let mut a = 0.0;
                let mut b = 0.0;
                for u in 0..na {
                    a += wt[u] * pz[u];
                    b += wzt[u] * p1[u];
                }
                partials.0 += a * r[1];
                partials.1 += a * r[2];
                partials.2 += a * r[3];
                partials.3 += b * r[0];
            }
            Self::apply_triplet(gradient, j, k, &dj, &dk, &djk, rj, rk, t.rjk, t.cos, partials);
        }
    }

    fn angular_compact_values(&self, nb: &NeighborData, values: &mut [f64], s: &mut GroupScratch) {
        self.select(nb, s, true);
        let narrow = self.kind.is_narrow();
        let weighted = self.kind.is_weighted();
        let radial = self.radial.as_ref().unwrap();
        let rc2 = self.rc * self.rc;
        let rl2 = if self.rl > 0.0 { self.rl * self.rl } else { 0.0 };
        let mut triplets = std::mem::take(&mut s.triplets);
        Self::for_each_pair(s, |a, b| {
            let (j, k) = (s.selected[a], s.selected[b]);
            let (dj, dk) = (nb.d[j], nb.d[k]);
            let djk = [dk[0] - dj[0], dk[1] - dj[1], dk[2] - dj[2]];
            let r2 = djk[0] * djk[0] + djk[1] * djk[1] + djk[2] * djk[2];
            if narrow && (r2 >= rc2 || r2 <= rl2) {
                return;
            }
            let rjk = r2.sqrt();
            let (fjk, dfjk) = if narrow { radial.fdf(rjk) } else { (1.0, 0.0) };
            let cos = (dj[0] * dk[0] + dj[1] * dk[1] + dj[2] * dk[2]) / (nb.r[j] * nb.r[k]);
            if cos <= -1.0 || cos >= 1.0 {
                return;
            }
            let theta = cos.acos();
            let z = if weighted { nb.weight[j] * nb.weight[k] } else { 1.0 };
            let fc = z * s.f[a] * s.f[b] * fjk;
            let mut any = false;
            for m in &self.members {
                let c = m.compact.as_ref().unwrap();
                if theta < c.left || theta > c.right {
                    continue;
                }
                any = true;
                values[m.index] += fc * c.fdf(theta).0;
            }
            if any {
                triplets.push(Triplet { a: a as u32, b: b as u32, rjk, cos, fjk, dfjk, fc, theta, z });
            }
        });
        s.triplets = triplets;
    }

    fn angular_compact_gradient(
        &self,
        nb: &NeighborData,
        weights: &[f64],
        gradient: &mut [[f64; 3]],
        s: &mut GroupScratch,
    ) {
        for t in &s.triplets {
            let (a, b) = (t.a as usize, t.b as usize);
            let (j, k) = (s.selected[a], s.selected[b]);
            let (rj, rk, dj, dk) = (nb.r[j], nb.r[k], nb.d[j], nb.d[k]);
            let djk = [dk[0] - dj[0], dk[1] - dj[1], dk[2] - dj[2]];
            let (fj, dfj, fk, dfk) = (s.f[a], s.df[a], s.f[b], s.df[b]);
            let dtheta_dcos = -1.0 / (1.0 - t.cos * t.cos).sqrt();
            let mut partials = (0.0, 0.0, 0.0, 0.0);
            for m in &self.members {
                let c = m.compact.as_ref().unwrap();
                if t.theta < c.left || t.theta > c.right {
                    continue;
                }
                let (ang, dang) = c.fdf(t.theta);
                let w = weights[m.index] * t.z;
                partials.3 += weights[m.index] * t.fc * dang * dtheta_dcos;
                partials.0 += w * ang * dfj * fk * t.fjk;
                partials.1 += w * ang * fj * dfk * t.fjk;
                partials.2 += w * ang * fj * fk * t.dfjk;
            }
            Self::apply_triplet(gradient, j, k, &dj, &dk, &djk, rj, rk, t.rjk, t.cos, partials);
        }
    }
}

/// x^n by binary exponentiation (inlined, unlike `f64::powi`).
#[inline(always)]
fn integer_power(mut x: f64, mut n: u32) -> f64 {
    let mut result = 1.0;
    while n > 0 {
        if n & 1 == 1 {
            result *= x;
        }
        x *= x;
        n >>= 1;
    }
    result
}

/// (1 + λ cos θ)^(ζ−1) and (1 + λ cos θ)^ζ for every angular term (zero where 1 + λ cos θ ≤ 0), into
/// `out` as pairs.
#[inline(always)]
fn angular_powers<'a>(terms: &[AngularTerm], cos: f64, out: &'a mut [f64]) -> &'a [f64] {
    for (u, t) in terms.iter().enumerate() {
        let p = 1.0 + t.lambda * cos;
        let (p1, pz) = if p <= 0.0 {
            (0.0, 0.0)
        } else {
            let p1 = match t.zeta_int {
                Some(n) if n >= 1 => integer_power(p, (n - 1) as u32),
                _ => p.powf(t.zeta - 1.0),
            };
            (p1, p1 * p)
        };
        out[2 * u] = p1;
        out[2 * u + 1] = pz;
    }
    out
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
            g.values(nb, &mut v, &mut scratch);
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
            "H 23 0.5 4.5 p2a",
            "H 24 -5.0 5.0 0.0 120.0 p3",
            "H 25 0.0 5.0 -90.0 90.0 p2",
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
                for g in &groups {
                    let mut scratch = GroupScratch::default();
                    g.values(&nb, &mut vec![0.0; n], &mut scratch);
                    g.gradient(&nb, &w, &mut gradient, &mut scratch);
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
