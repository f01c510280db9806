//! Flavor extra spec validation as Nova does it from microversion 2.86
//! (`nova/api/validation/extra_specs`): a key in a namespace Nova knows must
//! be one of that namespace's specs and its value must fit the spec; keys
//! without a namespace, or in a namespace Nova does not know, are accepted.

use std::sync::OnceLock;

use regex::Regex;

enum Rule {
    Int { min: Option<i64>, max: Option<i64> },
    Bool,
    Enum(&'static [&'static str]),
    Pattern(&'static str),
    Any,
}

const NUMA_CPUS: &str = r"\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*";

fn int(min: i64) -> Rule {
    Rule::Int { min: Some(min), max: None }
}

fn hw(key: &str) -> Option<Rule> {
    Some(match key {
        "cpu_policy" => Rule::Enum(&["dedicated", "shared", "mixed"]),
        "cpu_thread_policy" => Rule::Enum(&["prefer", "isolate", "require"]),
        "emulator_threads_policy" => Rule::Enum(&["isolate", "share"]),
        "cpu_realtime"
        | "hide_hypervisor_id"
        | "locked_memory"
        | "boot_menu"
        | "vif_multiqueue_enabled"
        | "mem_encryption"
        | "pmu"
        | "virtio_packed_ring"
        | "ephemeral_encryption" => Rule::Bool,
        "cpu_realtime_mask" => Rule::Pattern(r"(\^)?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"),
        "cpu_dedicated_mask" => Rule::Pattern(NUMA_CPUS),
        "mem_page_size" => Rule::Pattern(r"(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)"),
        "numa_nodes" => int(1),
        "pci_numa_affinity_policy" => Rule::Enum(&["required", "preferred", "legacy", "socket"]),
        "cpu_sockets" | "cpu_cores" | "cpu_threads" | "cpu_max_sockets" | "cpu_max_cores" | "cpu_max_threads" => int(1),
        "mem_encryption_model" => Rule::Enum(&["amd-sev", "amd-sev-es", "amd-sev-snp"]),
        "pmem" => Rule::Pattern(r"([a-zA-Z0-9_]+(,)?)+"),
        "serial_port_count" => int(0),
        "tpm_model" => Rule::Enum(&["tpm-tis", "tpm-crb"]),
        "tpm_version" => Rule::Enum(&["1.2", "2.0"]),
        "tpm_secret_security" => Rule::Enum(&["user", "host", "deployment"]),
        "watchdog_action" => Rule::Enum(&["none", "pause", "poweroff", "reset", "disabled"]),
        "viommu_model" => Rule::Enum(&["intel", "smmuv3", "virtio", "auto"]),
        "sound_model" => Rule::Enum(&["sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "virtio"]),
        "usb_model" => Rule::Enum(&["none", "nec-xhci", "qemu-xhci"]),
        "redirected_usb_ports" => Rule::Int { min: Some(0), max: Some(15) },
        "ephemeral_encryption_format" => Rule::Enum(&["plain", "luks", "luksv2"]),
        k if numbered(k, "numa_cpus") => Rule::Pattern(NUMA_CPUS),
        k if numbered(k, "numa_mem") => int(1),
        _ => return None,
    })
}

/// `hw:numa_cpus.0` and the like (Nova's pattern has an unescaped dot).
fn numbered(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|rest| {
        let mut c = rest.chars();
        c.next().is_some() && {
            let digits = c.as_str();
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        }
    })
}

fn quota(key: &str) -> Option<Rule> {
    for x in ["cpu", "memory", "disk_io", "vif"] {
        if let Some(rest) = key.strip_prefix(x).and_then(|r| r.strip_prefix('_')) {
            match rest {
                "limit" | "shares_share" => return Some(int(0)),
                "reservation" => return Some(Rule::Int { min: None, max: None }),
                "shares_level" => return Some(Rule::Enum(&["custom", "high", "normal", "low"])),
                _ => {}
            }
        }
    }
    Some(match key {
        "cpu_shares" | "cpu_period" => int(0),
        "cpu_quota" => Rule::Int { min: None, max: None },
        k if ["disk_read", "disk_write", "disk_total"]
            .iter()
            .any(|p| k.strip_prefix(p).is_some_and(|r| r == "_bytes_sec" || r == "_iops_sec")) =>
        {
            int(0)
        }
        k if ["vif_inbound", "vif_outbound"]
            .iter()
            .any(|p| k.strip_prefix(p).is_some_and(|r| r == "_average" || r == "_peak" || r == "_burst")) =>
        {
            int(0)
        }
        _ => return None,
    })
}

const CAPABILITIES: &[&str] = &[
    "id",
    "uuid",
    "service_id",
    "host",
    "vcpus",
    "memory_mb",
    "local_gb",
    "vcpus_used",
    "memory_mb_used",
    "local_gb_used",
    "hypervisor_type",
    "hypervisor_version",
    "hypervisor_hostname",
    "free_ram_mb",
    "free_disk_gb",
    "current_workload",
    "running_vms",
    "disk_available_least",
    "host_ip",
    "mapped",
    "cpu_allocation_ratio",
    "ram_allocation_ratio",
    "disk_allocation_ratio",
    "total_usable_ram_mb",
    "total_usable_disk_gb",
    "disk_mb_used",
    "free_disk_mb",
    "vcpus_total",
    "num_instances",
    "num_io_ops",
    "failed_builds",
    "aggregates",
    "cell_uuid",
    "updated",
];
const NESTED_CAPABILITIES: &[&str] = &[
    "cpu_info",
    "metrics",
    "stats",
    "numa_topology",
    "supported_hv_specs",
    "pci_device_pools",
    "nodename",
    "pci_stats",
    "supported_instances",
    "limits",
    "instances",
];

fn capability(key: &str) -> Option<Rule> {
    if CAPABILITIES.contains(&key) {
        return Some(Rule::Any);
    }
    let mut parts = key.split(':');
    let head = parts.next()?;
    let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_');
    (NESTED_CAPABILITIES.contains(&head) && parts.all(word)).then_some(Rule::Any)
}

fn group_regex(word: &str) -> &'static Regex {
    static RESOURCES: OnceLock<Regex> = OnceLock::new();
    static TRAIT: OnceLock<Regex> = OnceLock::new();
    let cell = if word == "resources" { &RESOURCES } else { &TRAIT };
    cell.get_or_init(|| Regex::new(&format!("^{word}([a-zA-Z0-9_-]{{1,64}})?$")).expect("regex"))
}

fn is_custom(name: &str) -> bool {
    name.strip_prefix("CUSTOM_")
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
}

/// The rule of a namespaced key: `Some(None)` for a key of a namespace Nova
/// knows that is not one of its specs, `None` for a namespace Nova does not
/// know.
fn rule(name: &str) -> Option<Option<Rule>> {
    let Some((ns, key)) = name.split_once(':') else {
        return Some(Some(match name {
            "group_policy" => Rule::Enum(&["isolate", "none"]),
            "hide_hypervisor_id" => Rule::Bool,
            _ => Rule::Any,
        }));
    };
    if group_regex("resources").is_match(ns) {
        let known = placement::standard::standard_resource_class_id(key).is_some() || is_custom(key);
        return Some(known.then_some(Rule::Int { min: None, max: None }));
    }
    if group_regex("trait").is_match(ns) {
        let known = placement::standard::is_standard_trait(key) || is_custom(key);
        return Some(known.then_some(Rule::Enum(&["required", "forbidden"])));
    }
    Some(match ns {
        "hw" => hw(key),
        "hw_rng" => match key {
            "allowed" => Some(Rule::Bool),
            "rate_bytes" | "rate_period" => Some(int(0)),
            _ => None,
        },
        "hw_video" => (key == "ram_max_mb").then(|| int(0)),
        "os" => (key == "secure_boot").then_some(Rule::Enum(&["disabled", "required"])),
        "accel" => (key == "device_profile").then_some(Rule::Any),
        "pci_passthrough" => (key == "alias").then_some(Rule::Pattern(r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*")),
        "vmware" => matches!(key, "hw_version" | "storage_policy").then_some(Rule::Any),
        "quota" => quota(key),
        "aggregate_instance_extra_specs" => (!key.is_empty()).then_some(Rule::Any),
        "capabilities" => capability(key),
        _ => return None,
    })
}

/// Python's `int()` of a string: surrounding whitespace, a sign, and single
/// underscores between digits allowed.
fn python_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

fn python_bool(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes" | "0" | "f" | "false" | "off" | "n" | "no"
    )
}

fn full_match(pattern: &str, value: &str) -> bool {
    Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(value))
}

/// Checks one extra spec; the error is Nova's 400 message.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let rule = match rule(name) {
        None => return Ok(()),
        Some(None) => {
            return Err(format!("Validation failed; extra spec '{name}' does not appear to be a valid extra spec."))
        }
        Some(Some(rule)) => rule,
    };
    match rule {
        Rule::Any => Ok(()),
        Rule::Bool if python_bool(value) => Ok(()),
        Rule::Bool => Err(format!("Validation failed; '{value}' is not a valid boolean-like value.")),
        Rule::Enum(options) if options.contains(&value) => Ok(()),
        Rule::Enum(options) => Err(format!("Validation failed; '{value}' is not one of: {}.", options.join(", "))),
        Rule::Pattern(p) if full_match(p, value) => Ok(()),
        Rule::Pattern(p) => Err(format!("Validation failed; '{value}' is not of the format '{p}'.")),
        Rule::Int { min, max } => {
            let Some(v) = python_int(value) else {
                return Err(format!("Validation failed; '{value}' is not a valid integer value."));
            };
            if let Some(max) = max.filter(|m| v > *m) {
                return Err(format!("Validation failed; '{v}' is greater than the max value of '{max}'."));
            }
            if let Some(min) = min.filter(|m| v < *m) {
                return Err(format!("Validation failed; '{v}' is less than the min value of '{min}'."));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn placement_specs() {
        assert!(validate("resources:VCPU", "2").is_ok());
        assert!(validate("resources:VGPU", "1").is_ok());
        assert!(validate("resources1:CUSTOM_FPGA_X", "1").is_ok());
        assert!(validate("resources_GROUP-a:MEMORY_MB", "-1").is_ok(), "no minimum, as Nova");
        assert_eq!(
            validate("resources:FOO", "1").unwrap_err(),
            "Validation failed; extra spec 'resources:FOO' does not appear to be a valid extra spec."
        );
        assert_eq!(
            validate("resources:VCPU", "two").unwrap_err(),
            "Validation failed; 'two' is not a valid integer value."
        );
        assert!(validate("trait:HW_CPU_X86_AVX2", "required").is_ok());
        assert!(validate("trait2:CUSTOM_GOLD", "forbidden").is_ok());
        assert_eq!(
            validate("trait:HW_CPU_X86_AVX2", "yes").unwrap_err(),
            "Validation failed; 'yes' is not one of: required, forbidden."
        );
        assert!(validate("trait:NOT_A_TRAIT", "required").is_err());
        assert!(validate("group_policy", "isolate").is_ok());
        assert!(validate("group_policy", "all").is_err());
    }

    #[test]
    fn hw_and_other_namespaces() {
        assert!(validate("hw:cpu_policy", "dedicated").is_ok());
        assert_eq!(
            validate("hw:cpu_policy", "foo").unwrap_err(),
            "Validation failed; 'foo' is not one of: dedicated, shared, mixed."
        );
        for ok in ["large", "small", "any", "2048", "2MB", "1GiB", "4Kib"] {
            assert!(validate("hw:mem_page_size", ok).is_ok(), "{ok}");
        }
        assert!(validate("hw:mem_page_size", "huge").is_err());
        assert!(validate("hw:numa_nodes", "0").unwrap_err().contains("less than the min value of '1'"));
        assert!(validate("hw:numa_cpus.0", "0-3,^2").is_ok());
        assert!(validate("hw:numa_mem.1", "1024").is_ok());
        assert!(validate("hw:redirected_usb_ports", "16").unwrap_err().contains("greater than the max value of '15'"));
        assert!(validate("hw:no_such_thing", "1").is_err());
        assert!(validate("hw:boot_menu", "maybe").unwrap_err().contains("boolean-like"));
        assert!(validate("quota:cpu_quota", "-5").is_ok());
        assert!(validate("quota:disk_read_iops_sec", "-5").is_err());
        assert!(validate("capabilities:cpu_info:arch", "x86_64").is_ok());
        assert!(validate("capabilities:bogus", "x").is_err());
        assert!(validate("aggregate_instance_extra_specs:ssd", "true").is_ok());
        // Unknown namespaces and keys without one are the operator's own.
        assert!(validate("mycloud:tier", "gold").is_ok());
        assert!(validate("anything", "goes").is_ok());
    }
}
