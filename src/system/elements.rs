//! Periodic table: symbols and standard atomic masses (IUPAC 2021 abridged standard atomic weights, amu).
//!
//! Elements are identified everywhere by their atomic number `Z` (`u8`). Masses are the defaults used when a
//! structure does not give its own; a study may override them per element.

/// Symbols indexed by atomic number (index 0 is a placeholder for "unknown").
const SYMBOLS: [&str; 104] = [
    "X", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca",
    "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",
    "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce",
    "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir",
    "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm",
    "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr",
];

/// Standard atomic weights in amu, indexed by atomic number (radioactive elements: mass number of the
/// longest-lived isotope).
const MASSES: [f64; 104] = [
    0.0,
    1.008,
    4.002602,
    6.94,
    9.0121831,
    10.81,
    12.011,
    14.007,
    15.999,
    18.998403163,
    20.1797,
    22.98976928,
    24.305,
    26.9815385,
    28.085,
    30.973761998,
    32.06,
    35.45,
    39.948,
    39.0983,
    40.078,
    44.955908,
    47.867,
    50.9415,
    51.9961,
    54.938044,
    55.845,
    58.933194,
    58.6934,
    63.546,
    65.38,
    69.723,
    72.630,
    74.921595,
    78.971,
    79.904,
    83.798,
    85.4678,
    87.62,
    88.90584,
    91.224,
    92.90637,
    95.95,
    98.0,
    101.07,
    102.90550,
    106.42,
    107.8682,
    112.414,
    114.818,
    118.710,
    121.760,
    127.60,
    126.90447,
    131.293,
    132.90545196,
    137.327,
    138.90547,
    140.116,
    140.90766,
    144.242,
    145.0,
    150.36,
    151.964,
    157.25,
    158.92535,
    162.500,
    164.93033,
    167.259,
    168.93422,
    173.045,
    174.9668,
    178.49,
    180.94788,
    183.84,
    186.207,
    190.23,
    192.217,
    195.084,
    196.966569,
    200.592,
    204.38,
    207.2,
    208.98040,
    209.0,
    210.0,
    222.0,
    223.0,
    226.0,
    227.0,
    232.0377,
    231.03588,
    238.02891,
    237.0,
    244.0,
    243.0,
    247.0,
    247.0,
    251.0,
    252.0,
    257.0,
    258.0,
    259.0,
    262.0,
];

/// Atomic number of an element symbol (case-sensitive as written in structure files: `Li`, not `LI`).
pub fn atomic_number(symbol: &str) -> Option<u8> {
    SYMBOLS.iter().skip(1).position(|s| *s == symbol).map(|i| (i + 1) as u8)
}

/// Symbol of an atomic number, `"X"` if unknown.
pub fn symbol(z: u8) -> &'static str {
    SYMBOLS.get(z as usize).copied().unwrap_or("X")
}

/// Standard atomic mass in amu, `None` for an unknown atomic number.
pub fn standard_mass(z: u8) -> Option<f64> {
    MASSES.get(z as usize).copied().filter(|&m| m > 0.0)
}

/// The element whose standard mass is within `tolerance` amu of `mass`, if exactly one is: how LAMMPS data
/// files, which give numeric atom types and their masses, are mapped to elements.
pub fn from_mass(mass: f64, tolerance: f64) -> Option<u8> {
    let mut matches = (1..MASSES.len()).filter(|&z| (MASSES[z] - mass).abs() <= tolerance);
    let first = matches.next()?;
    matches.next().is_none().then_some(first as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_and_numbers_round_trip() {
        for z in 1..=103u8 {
            assert_eq!(atomic_number(symbol(z)), Some(z));
        }
        assert_eq!(atomic_number("Li"), Some(3));
        assert_eq!(atomic_number("Cu"), Some(29));
        assert_eq!(atomic_number("LI"), None);
        assert_eq!(standard_mass(29), Some(63.546));
        assert_eq!(standard_mass(0), None);
        assert_eq!(from_mass(63.546, 0.05), Some(29));
        assert_eq!(from_mass(6.94, 0.05), Some(3));
        assert_eq!(from_mass(200.0, 0.05), None);
    }
}
