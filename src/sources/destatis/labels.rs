//! The labels of a long ffcsv file, for series groups: `N_variable_attribute_label` of each
//! (variable, attribute) and `value_variable_label` of each value variable. Read in a second
//! pass over the text, and only for tables with a group, so the cells stay lean.

use std::collections::HashMap;

use super::ffcsv::FfcsvError;
use crate::config::group::MEASURE;

/// (variable code, attribute code) -> label; value variables under (`measure`, code).
pub(crate) type Labels = HashMap<(String, String), String>;

pub(crate) fn read_labels(text: &str) -> Result<Labels, FfcsvError> {
    let (mut rdr, header) = super::ffcsv::reader(text)?;
    let find = |name: &str| header.iter().position(|n| n.trim() == name);
    // (code column, attribute code column, attribute label column) per variable.
    let mut vars = Vec::new();
    for n in header.iter() {
        if let Some(k) = n.trim().strip_suffix("_variable_code") {
            let (Some(c), Some(a), Some(l)) = (
                find(&format!("{k}_variable_code")),
                find(&format!("{k}_variable_attribute_code")),
                find(&format!("{k}_variable_attribute_label")),
            ) else {
                continue;
            };
            vars.push((c, a, l));
        }
    }
    let measure = (find("value_variable_code"), find("value_variable_label"));
    let mut out = Labels::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| FfcsvError::Line {
            line: i + 2,
            message: e.to_string(),
        })?;
        let get = |c: usize| rec.get(c).unwrap_or("").trim().to_string();
        for &(c, a, l) in &vars {
            out.entry((get(c), get(a))).or_insert_with(|| get(l));
        }
        if let (Some(c), Some(l)) = measure {
            out.entry((MEASURE.to_string(), get(c)))
                .or_insert_with(|| get(l));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_attributes_and_value_variables() {
        let text = "\u{feff}statistics_code;time_code;time;1_variable_code;1_variable_label;\
            1_variable_attribute_code;1_variable_attribute_label;value;value_unit;\
            value_variable_code;value_variable_label\n\
            42153;JAHR;2025;WZ08V1;WZ;WZ08-C;Verarbeitendes Gewerbe;1,0;2021=100;PRO101;Produktionsindex\n";
        let l = read_labels(text).unwrap();
        assert_eq!(
            l[&("WZ08V1".to_string(), "WZ08-C".to_string())],
            "Verarbeitendes Gewerbe"
        );
        assert_eq!(
            l[&("measure".to_string(), "PRO101".to_string())],
            "Produktionsindex"
        );
    }
}
