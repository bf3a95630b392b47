//! Writers for n2p2's potential files: `input.nn`, `scaling.data`, `weights.NNN.data`.

use super::model::connections;
use crate::potentials::nnp::network::NeuralNetwork;
use crate::system::elements;
use std::fmt::Write;

/// Input scaling written to `input.nn` (n2p2 keywords; see `potentials::nnp::scaling`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingKind {
    None,
    Scale,
    Center,
    ScaleCenter,
    Sigma,
}

/// Everything `input.nn` declares.
pub struct InputNn<'a> {
    /// Atomic numbers in increasing order.
    pub elements: &'a [u8],
    /// `atom_energy` offsets (eV), per element.
    pub offsets: &'a [f64],
    pub cutoff_type: u32,
    pub cutoff_alpha: f64,
    pub scaling: ScalingKind,
    pub hidden_layers: &'a [usize],
    pub activation: &'a str,
    pub normalize_nodes: bool,
    /// `symfunction_short` arguments, one entry per line.
    pub symmetry_functions: &'a [String],
}

/// The text of an n2p2 `input.nn` (short-range 2G-HDNNP, lengths in Å, energies in eV).
pub fn format_input_nn(input: &InputNn) -> String {
    let mut s = String::new();
    let symbols: Vec<&str> = input.elements.iter().map(|&z| elements::symbol(z)).collect();
    let _ = writeln!(s, "# n2p2 short-range NNP written by mdrun train (lengths in Angstrom, energies in eV)");
    let _ = writeln!(s, "nnp_type 2");
    let _ = writeln!(s, "number_of_elements {}", symbols.len());
    let _ = writeln!(s, "elements {}", symbols.join(" "));
    for (symbol, offset) in symbols.iter().zip(input.offsets) {
        let _ = writeln!(s, "atom_energy {symbol} {offset:.17e}");
    }
    let _ = writeln!(s, "cutoff_type {} {}", input.cutoff_type, input.cutoff_alpha);
    match input.scaling {
        ScalingKind::None => {}
        ScalingKind::Scale => s.push_str("scale_symmetry_functions\n"),
        ScalingKind::Center => s.push_str("center_symmetry_functions\n"),
        ScalingKind::ScaleCenter => s.push_str("scale_symmetry_functions\ncenter_symmetry_functions\n"),
        ScalingKind::Sigma => s.push_str("scale_symmetry_functions_sigma\n"),
    }
    s.push_str("scale_min_short 0.0\nscale_max_short 1.0\n");
    let _ = writeln!(s, "global_hidden_layers_short {}", input.hidden_layers.len());
    let nodes: Vec<String> = input.hidden_layers.iter().map(|n| n.to_string()).collect();
    let _ = writeln!(s, "global_nodes_short {}", nodes.join(" "));
    let activations: Vec<&str> =
        std::iter::repeat_n(input.activation, input.hidden_layers.len()).chain(["l"]).collect();
    let _ = writeln!(s, "global_activation_short {}", activations.join(" "));
    if input.normalize_nodes {
        s.push_str("normalize_nodes\n");
    }
    for line in input.symmetry_functions {
        let _ = writeln!(s, "symfunction_short {line}");
    }
    s
}

/// Statistics of one symmetry function over the training set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Statistics {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub sigma: f64,
}

/// The text of n2p2's `scaling.data`: per element (increasing atomic number), per function (sorted order)
/// `element_index function_index G_min G_max G_mean G_sigma`, 1-based indices.
pub fn format_scaling(statistics: &[Vec<Statistics>]) -> String {
    let mut s = String::from(
        "################################################################################\n\
         # Symmetry function scaling data.\n\
         ################################################################################\n\
         # Col  Name     Description\n\
         # 1    e_index  Element index.\n\
         # 2    sf_index Symmetry function index.\n\
         # 3    sf_min   Symmetry function minimum.\n\
         # 4    sf_max   Symmetry function maximum.\n\
         # 5    sf_mean  Symmetry function mean.\n\
         # 6    sf_sigma Symmetry function sigma.\n\
         #########################################################################################################\n",
    );
    for (e, list) in statistics.iter().enumerate() {
        for (k, st) in list.iter().enumerate() {
            let _ = writeln!(
                s,
                "{:>4} {:>4} {:>24.16E} {:>24.16E} {:>24.16E} {:>24.16E}",
                e + 1,
                k + 1,
                st.min,
                st.max,
                st.mean,
                st.sigma
            );
        }
    }
    s
}

/// The text of n2p2's `weights.NNN.data`: one connection per line in n2p2's order, with its type
/// (`a` weight, `b` bias), index and the neurons it joins (1-based, layer 0 = input).
pub fn format_weights(network: &NeuralNetwork) -> String {
    let mut s = String::from(
        "################################################################################\n\
         # Neural network connection values (weights and biases).\n\
         ################################################################################\n\
         # Col  Name       Description\n\
         # 1    connection Neural network connection value.\n\
         # 2    t          Connection type (a = weight, b = bias).\n\
         # 3    index      Index enumerating weights.\n\
         # 4    l_s        Starting point layer (end point layer for biases).\n\
         # 5    n_s        Starting point neuron in starting layer (end point neuron for biases).\n\
         # 6    l_e        End point layer.\n\
         # 7    n_e        End point neuron in end layer.\n\
         ################################################################################\n",
    );
    let values = connections(network);
    let mut index = 0;
    for (l, layer) in network.layers.iter().enumerate() {
        for j in 0..layer.inputs {
            for k in 0..layer.outputs {
                let _ = writeln!(
                    s,
                    "{:>24.16E} a {:>9} {:>5} {:>5} {:>5} {:>5}",
                    values[index],
                    index + 1,
                    l,
                    j + 1,
                    l + 1,
                    k + 1
                );
                index += 1;
            }
        }
        for k in 0..layer.outputs {
            let _ = writeln!(s, "{:>24.16E} b {:>9} {:>5} {:>5}", values[index], index + 1, l + 1, k + 1);
            index += 1;
        }
    }
    s
}
