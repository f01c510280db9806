//! Streaming disk image format inspection with bounded memory.
//!
//! This mirrors oslo.utils' `imageutils.format_inspector`, which Glance runs over every `bare` upload: each chunk of
//! the stream is fed to an [`Inspector`], which keeps only the byte ranges the known formats need (the first
//! 1 MiB + 511 bytes, the last 1536 bytes and, for VHDX, two small regions located through its metadata).
//! [`Inspector::finish`] reports the detected format, its virtual size and the result of that format's safety checks,
//! and [`check_declared`] applies Glance's rules for comparing the result with the image's declared `disk_format`.

use std::fmt;
use std::mem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskFormat {
    Raw,
    Qcow2,
    Vhd,
    Vhdx,
    Vmdk,
    Vdi,
    Qed,
    Iso,
    /// A disk with an MBR or GPT partition table; Glance accepts it as `raw`.
    Gpt,
    /// LUKS v1 encrypted container.
    Luks,
}

impl DiskFormat {
    /// Every inspectable format, in oslo.utils' `ALL_FORMATS` order.
    pub const ALL: [DiskFormat; 10] = [
        DiskFormat::Raw,
        DiskFormat::Qcow2,
        DiskFormat::Vhd,
        DiskFormat::Vhdx,
        DiskFormat::Vmdk,
        DiskFormat::Vdi,
        DiskFormat::Qed,
        DiskFormat::Iso,
        DiskFormat::Gpt,
        DiskFormat::Luks,
    ];

    /// The Glance `disk_format` name (also qemu-img's name, except `vhd`, which qemu calls `vpc`).
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Vhd => "vhd",
            DiskFormat::Vhdx => "vhdx",
            DiskFormat::Vmdk => "vmdk",
            DiskFormat::Vdi => "vdi",
            DiskFormat::Qed => "qed",
            DiskFormat::Iso => "iso",
            DiskFormat::Gpt => "gpt",
            DiskFormat::Luks => "luks",
        }
    }

    /// Looks up an inspectable format by its `disk_format` name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.as_str() == name)
    }
}

impl fmt::Display for DiskFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of inspecting a whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The detected format; `Raw` if no other format matched.
    pub format: DiskFormat,
    /// The virtual disk size, when the format defines one and it could be read.
    pub virtual_size: Option<u64>,
    /// The number of bytes fed.
    pub actual_size: u64,
    /// The safety checks of `format`; `Err` carries the failed checks and their reasons.
    pub safety: Result<(), String>,
    /// The other non-raw formats that also matched, in priority order.
    pub also_matched: Vec<DiskFormat>,
}

impl Inspection {
    /// Every matched format: `format` followed by `also_matched`.
    pub fn formats(&self) -> impl Iterator<Item = DiskFormat> + '_ {
        std::iter::once(self.format).chain(self.also_matched.iter().copied())
    }
}

/// Checks an inspection against the image's declared `disk_format` the way Glance does after an upload or import.
///
/// Fails when several formats matched (except a hybrid ISO, which also carries a partition table), when the detected
/// format differs from the declared one, or when the detected format's safety checks failed. Unlike Glance, a stream
/// declared `raw` must really be raw (a partition table is fine): Glance accepts e.g. a qcow2 declared `raw`, but Nova
/// refuses to boot it, so it is rejected here up front.
pub fn check_declared(declared_disk_format: &str, inspection: &Inspection) -> Result<(), String> {
    let detected = effective_format(inspection)?;
    let declared = declared_disk_format;
    let matches = detected.as_str() == declared || (declared == "raw" && detected == DiskFormat::Gpt);
    if !matches {
        if detected == DiskFormat::Raw && DiskFormat::from_name(declared).is_none() {
            return Ok(());
        }
        return Err(format!("Image disk_format {declared} does not match stream data {detected}"));
    }
    inspection.safety.clone().map_err(|reason| format!("Image failed safety checks: {reason}"))
}

fn effective_format(inspection: &Inspection) -> Result<DiskFormat, String> {
    match (inspection.format, inspection.also_matched.as_slice()) {
        (format, []) => Ok(format),
        (DiskFormat::Iso, [DiskFormat::Gpt]) => Ok(DiskFormat::Iso),
        _ => {
            let names: Vec<&str> = inspection.formats().map(DiskFormat::as_str).collect();
            Err(format!("Multiple formats detected: {}", names.join(",")))
        }
    }
}

const KIB: usize = 1024;
const VMDK_DESC_OFFSET: usize = 0x200;
const VMDK_DESC_MAX: usize = (1 << 20) - 1;
const VMDK_GD_AT_END: u64 = u64::MAX;
const VMDK_MARKER_EOS: u32 = 0;
const VMDK_MARKER_FOOTER: u32 = 3;
const HEAD_LEN: usize = VMDK_DESC_OFFSET + VMDK_DESC_MAX;
const TAIL_LEN: usize = 1536;
const ISO_DESCRIPTOR: usize = 32 * KIB;
const LUKS_HEADER_LEN: usize = 592;
const VHDX_IDENT: &[u8] = b"vhdxfile";
const VHDX_REGION_TABLE: usize = 192 * KIB;
const VHDX_TABLE_LEN: usize = 64 * KIB;
const VHDX_MAX_REGIONS: u32 = 2048;
const VHDX_METADATA_REGION: [u8; 16] =
    guid(0x8B7CA206, 0x4790, 0x4B9A, [0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E]);
const VHDX_VIRTUAL_DISK_SIZE: [u8; 16] =
    guid(0x2FA54224, 0xCD1B, 0x4876, [0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8]);

/// Encodes a Microsoft GUID in its on-disk mixed-endian layout.
const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let (a, b, c) = (a.to_le_bytes(), b.to_le_bytes(), c.to_le_bytes());
    [a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]
}

/// A byte range of the stream captured as the data flows past.
#[derive(Debug)]
struct Region {
    offset: u64,
    len: usize,
    data: Vec<u8>,
}

impl Region {
    fn new(offset: u64, len: usize) -> Self {
        Self { offset, len, data: Vec::new() }
    }

    fn complete(&self) -> bool {
        self.data.len() == self.len
    }

    /// Appends the part of `bytes` (which start at stream offset `at`) that continues the captured data.
    fn capture(&mut self, bytes: &[u8], at: u64) {
        let next = self.offset.saturating_add(self.data.len() as u64);
        let Some(start) = next.checked_sub(at).and_then(|start| usize::try_from(start).ok()) else { return };
        if start < bytes.len() {
            let take = (self.len - self.data.len()).min(bytes.len() - start);
            self.data.extend_from_slice(&bytes[start..start + take]);
        }
    }
}

/// Progress through the VHDX region table and metadata table towards the virtual disk size item.
#[derive(Debug)]
enum Vhdx {
    AwaitRegionTable,
    NoMetadataRegion,
    Metadata(Region),
    MetadataWithoutSize(Region),
    Size(Region),
    Invalid,
}

enum SizeEntry {
    Pending,
    Invalid,
    Absent,
    Found { offset: u32, len: u32 },
}

/// A streaming format inspector. Feed it every chunk of an image in order, then call [`Inspector::finish`].
#[derive(Debug)]
pub struct Inspector {
    total: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    vhdx: Vhdx,
}

impl Default for Inspector {
    fn default() -> Self {
        Self::new()
    }
}

impl Inspector {
    pub fn new() -> Self {
        Self { total: 0, head: Vec::new(), tail: Vec::new(), vhdx: Vhdx::AwaitRegionTable }
    }

    /// Presents the next chunk of the stream; chunks may have any size.
    pub fn feed(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        let at = self.total;
        self.total += chunk.len() as u64;
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.push_tail(chunk);
        if self.head.starts_with(VHDX_IDENT) {
            self.advance_vhdx(chunk, at);
        }
    }

    /// Ends the stream and reports what it contained.
    pub fn finish(self) -> Inspection {
        let inspectors: [fn(&Self) -> Option<Finding>; 9] =
            [Self::qcow2, Self::vhd, Self::vhdx, Self::vmdk, Self::vdi, Self::qed, Self::iso, Self::gpt, Self::luks];
        let mut findings = inspectors.iter().filter_map(|inspect| inspect(&self));
        let primary = findings.next().unwrap_or_else(|| Finding::checked(DiskFormat::Raw, Some(self.total), vec![]));
        Inspection {
            format: primary.format,
            virtual_size: primary.virtual_size,
            actual_size: self.total,
            safety: primary.safety(),
            also_matched: findings.map(|finding| finding.format).collect(),
        }
    }

    fn push_tail(&mut self, chunk: &[u8]) {
        if chunk.len() >= TAIL_LEN {
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - TAIL_LEN..]);
        } else {
            self.tail.extend_from_slice(chunk);
            if self.tail.len() >= 2 * TAIL_LEN {
                self.tail.drain(..self.tail.len() - TAIL_LEN);
            }
        }
    }

    /// The last `TAIL_LEN` bytes of the stream, if it was at least that long.
    fn tail(&self) -> Option<&[u8]> {
        self.tail.len().checked_sub(TAIL_LEN).map(|start| &self.tail[start..])
    }

    /// `len` bytes at `offset` from the start of the stream, if the stream reached that far.
    fn region(&self, offset: usize, len: usize) -> Option<&[u8]> {
        self.head.get(offset..offset + len)
    }

    fn advance_vhdx(&mut self, chunk: &[u8], at: u64) {
        let mut state = mem::replace(&mut self.vhdx, Vhdx::Invalid);
        if let Vhdx::Metadata(region) | Vhdx::MetadataWithoutSize(region) | Vhdx::Size(region) = &mut state {
            region.capture(chunk, at);
        }
        if let (Vhdx::AwaitRegionTable, Some(table)) =
            (&state, self.head.get(VHDX_REGION_TABLE..VHDX_REGION_TABLE + VHDX_TABLE_LEN))
        {
            state = match vhdx_metadata_offset(table) {
                Err(()) => Vhdx::Invalid,
                Ok(None) => Vhdx::NoMetadataRegion,
                Ok(Some(offset)) => {
                    let mut region = Region::new(offset, VHDX_TABLE_LEN);
                    region.capture(&self.head, 0);
                    region.capture(chunk, at);
                    Vhdx::Metadata(region)
                }
            };
        }
        if let Vhdx::Metadata(metadata) = state {
            state = match vhdx_size_entry(&metadata.data) {
                SizeEntry::Pending => Vhdx::Metadata(metadata),
                SizeEntry::Invalid => Vhdx::Invalid,
                SizeEntry::Absent => Vhdx::MetadataWithoutSize(metadata),
                SizeEntry::Found { offset, len } => {
                    let len = (len as usize).min(VHDX_TABLE_LEN);
                    let mut region = Region::new(metadata.offset.saturating_add(offset.into()), len);
                    region.capture(&self.head, 0);
                    region.capture(&metadata.data, metadata.offset);
                    region.capture(chunk, at);
                    Vhdx::Size(region)
                }
            };
        }
        self.vhdx = state;
    }

    fn qcow2(&self) -> Option<Finding> {
        let header = self.region(0, 512)?;
        if !header.starts_with(b"QFI\xfb") {
            return None;
        }
        let mut failures = Vec::new();
        if be_u64(header, 0x08) != 0 {
            failures.push(("backing_file", "Image has a backing file".to_owned()));
        }
        let incompatible = &header[0x48..0x50];
        if incompatible[7] & 0x04 != 0 {
            failures.push(("data_file", "Image has data_file set".to_owned()));
        }
        match be_u32(header, 0x04) {
            2 => {}
            3 => {
                if incompatible[..7].iter().any(|&byte| byte != 0) || incompatible[7] & !0x0F != 0 {
                    failures.push(("unknown_features", "Unknown QCOW2 features found".to_owned()));
                }
            }
            _ => failures.push(("unknown_features", "Unsupported qcow2 version".to_owned())),
        }
        Some(Finding::checked(DiskFormat::Qcow2, Some(be_u64(header, 24)), failures))
    }

    fn qed(&self) -> Option<Finding> {
        let header = self.region(0, 512)?;
        header.starts_with(b"QED\0").then(|| {
            let banned = vec![("banned", "This file format is not allowed".to_owned())];
            Finding::checked(DiskFormat::Qed, Some(self.total), banned)
        })
    }

    fn vhd(&self) -> Option<Finding> {
        if !self.head.starts_with(b"conectix") {
            return None;
        }
        Some(match self.region(0, 512) {
            Some(footer) => Finding::checked(DiskFormat::Vhd, Some(be_u64(footer, 40)), vec![]),
            None => Finding::incomplete(DiskFormat::Vhd),
        })
    }

    fn vhdx(&self) -> Option<Finding> {
        if !self.head.starts_with(VHDX_IDENT) {
            return None;
        }
        let (complete, virtual_size) = match &self.vhdx {
            Vhdx::Invalid => return None,
            Vhdx::AwaitRegionTable => (false, None),
            Vhdx::NoMetadataRegion => (true, None),
            Vhdx::Metadata(region) | Vhdx::MetadataWithoutSize(region) => (region.complete(), None),
            Vhdx::Size(region) => {
                let size = <[u8; 8]>::try_from(region.data.as_slice()).ok().map(u64::from_le_bytes);
                (region.complete(), size)
            }
        };
        Some(if complete {
            Finding::checked(DiskFormat::Vhdx, virtual_size, vec![])
        } else {
            Finding::incomplete(DiskFormat::Vhdx)
        })
    }

    fn vmdk(&self) -> Option<Finding> {
        let Some(header) = self.region(0, 64) else {
            return self.head.starts_with(b"KDMV").then(|| Finding::incomplete(DiskFormat::Vmdk));
        };
        if !header.starts_with(b"KDMV") {
            return self.vmdk_text_descriptor();
        }
        if !(1..=3).contains(&le_u32(header, 4)) || le_u64(header, 28) != 1 {
            return None;
        }
        let desc_len =
            usize::try_from(le_u64(header, 36).saturating_mul(512)).map_or(VMDK_DESC_MAX, |len| len.min(VMDK_DESC_MAX));
        let Some(desc) = self.region(VMDK_DESC_OFFSET, desc_len) else {
            return Some(Finding::incomplete(DiskFormat::Vmdk));
        };
        let footer = match (le_u64(header, 56) == VMDK_GD_AT_END, self.tail()) {
            (false, _) => None,
            (true, Some(tail)) => Some(tail),
            (true, None) => return Some(Finding::incomplete(DiskFormat::Vmdk)),
        };
        let desc = VmdkDescriptor::parse(desc);
        let mut failures = Vec::new();
        if let Err(reason) = check_vmdk_descriptor(desc.as_ref()) {
            failures.push(("descriptor", reason));
        }
        if let Some(Err(reason)) = footer.map(|tail| check_vmdk_footer(header, tail)) {
            failures.push(("footer", reason));
        }
        let virtual_size = desc
            .filter(|desc| !desc.text.is_empty() && desc.is_supported())
            .and_then(|_| le_u64(header, 12).checked_mul(512));
        Some(Finding::checked(DiskFormat::Vmdk, virtual_size, failures))
    }

    fn vmdk_text_descriptor(&self) -> Option<Finding> {
        if !self.head[..self.head.len().min(512)].iter().all(|&byte| is_text_byte(byte)) {
            return None;
        }
        let desc = VmdkDescriptor::parse(&self.head[..self.head.len().min(VMDK_DESC_MAX)])?;
        if desc.create_type == "formatnotfound" {
            return None;
        }
        let mut failures: Vec<_> =
            check_vmdk_descriptor(Some(&desc)).err().map(|reason| ("descriptor", reason)).into_iter().collect();
        failures.push(("sparse_header", "Descriptor-only VMDK images are not supported".to_owned()));
        Some(Finding::checked(DiskFormat::Vmdk, None, failures))
    }

    fn vdi(&self) -> Option<Finding> {
        let header = self.region(0, 512)?;
        (le_u32(header, 0x40) == 0xBEDA_107F)
            .then(|| Finding::checked(DiskFormat::Vdi, Some(le_u64(header, 0x170)), vec![]))
    }

    fn iso(&self) -> Option<Finding> {
        let descriptor = self.region(ISO_DESCRIPTOR, 2 * KIB)?;
        if !matches!(&descriptor[1..6], b"CD001" | b"NSR02" | b"NSR03") {
            return None;
        }
        let virtual_size = (descriptor[0] == 1).then(|| {
            u64::from(le_u32(descriptor, 80)) * u64::from(u16::from_le_bytes([descriptor[128], descriptor[129]]))
        });
        Some(Finding::checked(DiskFormat::Iso, virtual_size, vec![]))
    }

    fn gpt(&self) -> Option<Finding> {
        let mbr = self.region(0, 512)?;
        let is_fat_vbr = mbr[0x10] == 2 && mbr[0x15] == 0xF8;
        if mbr[510..512] != [0x55, 0xAA] || is_fat_vbr {
            return None;
        }
        let failures = check_mbr(mbr).err().map(|reason| ("mbr", reason)).into_iter().collect();
        Some(Finding::checked(DiskFormat::Gpt, Some(self.total), failures))
    }

    fn luks(&self) -> Option<Finding> {
        if !self.head.starts_with(b"LUKS\xba\xbe") {
            return None;
        }
        let Some(header) = self.region(0, LUKS_HEADER_LEN) else {
            return Some(Finding::incomplete(DiskFormat::Luks));
        };
        let version = u16::from_be_bytes([header[6], header[7]]);
        let failures =
            if version == 1 { vec![] } else { vec![("version", format!("LUKS version {version} is not supported"))] };
        let payload = u64::from(be_u32(header, 104)) * 512;
        Some(Finding::checked(DiskFormat::Luks, self.total.checked_sub(payload), failures))
    }
}

type Failure = (&'static str, String);

/// One format's verdict: whether all its regions were captured, its virtual size and its failed safety checks.
struct Finding {
    format: DiskFormat,
    complete: bool,
    virtual_size: Option<u64>,
    failures: Vec<Failure>,
}

impl Finding {
    fn checked(format: DiskFormat, virtual_size: Option<u64>, failures: Vec<Failure>) -> Self {
        Self { format, complete: true, virtual_size, failures }
    }

    fn incomplete(format: DiskFormat) -> Self {
        Self { format, complete: false, virtual_size: None, failures: vec![] }
    }

    fn safety(&self) -> Result<(), String> {
        if !self.complete {
            return Err("Incomplete file cannot be safety checked".to_owned());
        }
        if self.failures.is_empty() {
            return Ok(());
        }
        let failures: Vec<String> = self.failures.iter().map(|(check, reason)| format!("{check}: {reason}")).collect();
        Err(failures.join("; "))
    }
}

struct VmdkDescriptor {
    text: String,
    create_type: String,
}

impl VmdkDescriptor {
    fn parse(data: &[u8]) -> Option<Self> {
        const KEY: &str = "createtype=\"";
        let data = data.split(|&byte| byte == 0).next().unwrap_or_default();
        let text = std::str::from_utf8(data).ok().filter(|text| text.is_ascii())?.to_ascii_lowercase();
        let create_type = match text.find(KEY).map(|at| at + KEY.len()) {
            None => "formatnotfound",
            Some(start) => match text[start..].find('"') {
                Some(len) if len < 64 => &text[start..start + len],
                Some(_) => "formatnotfound",
                None => text.get(start..text.len() - 1).unwrap_or_default(),
            },
        }
        .to_owned();
        Some(Self { text, create_type })
    }

    fn is_supported(&self) -> bool {
        matches!(self.create_type.as_str(), "monolithicsparse" | "streamoptimized")
    }
}

fn check_vmdk_descriptor(desc: Option<&VmdkDescriptor>) -> Result<(), String> {
    let Some(desc) = desc.filter(|desc| !desc.text.is_empty()) else {
        return Err("No descriptor found".to_owned());
    };
    if !desc.is_supported() {
        return Err("Unsupported subformat".to_owned());
    }
    let mut extents = Vec::new();
    for line in desc.text.split('\n').map(|line| line.trim_matches(is_python_space)) {
        let is_header_field = line.split_once('=').is_some_and(|(key, _)| !key.contains(' '));
        let is_extent = matches!(line.split(' ').next(), Some("rw" | "rdonly" | "noaccess"));
        if line.is_empty() || line.starts_with('#') || line.starts_with("ddb") || is_header_field {
            continue;
        } else if is_extent {
            extents.push(line);
        } else {
            return Err("Invalid VMDK descriptor data".to_owned());
        }
    }
    if extents.iter().any(|extent| extent.contains('/')) {
        return Err("Invalid extent filenames found".to_owned());
    }
    if extents.is_empty() {
        return Err("No extents found".to_owned());
    }
    Ok(())
}

/// Compares a streamOptimized VMDK's footer (the last 1536 bytes: footer marker, footer, end-of-stream marker) with
/// its header.
fn check_vmdk_footer(header: &[u8], tail: &[u8]) -> Result<(), String> {
    let footer = &tail[512..576];
    if header[..4] != footer[..4] {
        return Err("Header and footer signature do not match".to_owned());
    }
    if header[4..8] != footer[4..8] {
        return Err("Header and footer versions do not match".to_owned());
    }
    if header[28..44] != footer[28..44] {
        return Err("Footer specifies a different descriptor than header".to_owned());
    }
    if le_u64(footer, 56) == VMDK_GD_AT_END {
        return Err("Footer indicates another footer".to_owned());
    }
    let is_marker = |marker: &[u8], kind: u32| {
        le_u32(marker, 8) == 0 && le_u32(marker, 12) == kind && marker[16..512].iter().all(|&byte| byte == 0)
    };
    if !is_marker(&tail[..512], VMDK_MARKER_FOOTER) {
        return Err("Footer marker is invalid".to_owned());
    }
    let eos = &tail[1024..];
    if le_u64(eos, 0) != 0 || !is_marker(eos, VMDK_MARKER_EOS) {
        return Err("End-of-stream marker is invalid".to_owned());
    }
    Ok(())
}

fn check_mbr(mbr: &[u8]) -> Result<(), String> {
    let mut used = Vec::new();
    let mut found_gpt = false;
    for (i, entry) in mbr[446..510].chunks_exact(16).enumerate() {
        if !matches!(entry[0], 0x00 | 0x80) {
            return Err(format!("MBR PTE {i} has invalid boot flag"));
        }
        let os_type = entry[4];
        if os_type != 0 {
            used.push(i);
        }
        if os_type == 0xEE {
            found_gpt = true;
            if entry[1..4] != [0x00, 0x02, 0x00] {
                return Err("GPT MBR has invalid start CHS".to_owned());
            }
            if le_u32(entry, 8) != 1 {
                return Err("GPT MBR has invalid start LBA".to_owned());
            }
        }
    }
    if found_gpt && used != [0] {
        return Err("GPT MBR defines invalid extra partitions".to_owned());
    }
    if used.is_empty() {
        return Err("GPT MBR has no partitions defined".to_owned());
    }
    Ok(())
}

/// Finds the metadata region's offset in the VHDX region table; `Err` if the table is invalid.
fn vhdx_metadata_offset(table: &[u8]) -> Result<Option<u64>, ()> {
    let count = le_u32(table, 8);
    if table[..4] != *b"regi" || count >= VHDX_MAX_REGIONS {
        return Err(());
    }
    Ok(table[16..]
        .chunks_exact(32)
        .take(count as usize)
        .find(|entry| entry[..16] == VHDX_METADATA_REGION)
        .map(|entry| le_u64(entry, 16)))
}

/// Looks up the virtual disk size item in the (possibly partly captured) VHDX metadata table.
fn vhdx_size_entry(table: &[u8]) -> SizeEntry {
    if table.len() < 32 {
        return SizeEntry::Pending;
    }
    if table[..8] != *b"metadata" {
        return SizeEntry::Invalid;
    }
    let count = usize::from(u16::from_le_bytes([table[10], table[11]]));
    if table.len() < 32 + count * 32 {
        return SizeEntry::Pending;
    }
    table[32..]
        .chunks_exact(32)
        .take(count)
        .find(|entry| entry[..16] == VHDX_VIRTUAL_DISK_SIZE)
        .map_or(SizeEntry::Absent, |entry| SizeEntry::Found { offset: le_u32(entry, 16), len: le_u32(entry, 20) })
}

/// Python's `str.isprintable() or str.isspace()` for one ASCII character, as oslo uses to spot text descriptors.
fn is_text_byte(byte: u8) -> bool {
    matches!(byte, 0x20..=0x7E) || is_python_space(char::from(byte))
}

fn is_python_space(c: char) -> bool {
    matches!(c, '\t'..='\r' | '\x1c'..=' ')
}

fn bytes<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    data[at..at + N].try_into().expect("slice has length N")
}

fn be_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes(data, at))
}

fn be_u64(data: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes(data, at))
}

fn le_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes(data, at))
}

fn le_u64(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes(data, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;
    use std::{env, fs, process};

    fn inspect_in_chunks(data: &[u8], chunk_len: usize) -> Inspection {
        let mut inspector = Inspector::new();
        data.chunks(chunk_len).for_each(|chunk| inspector.feed(chunk));
        inspector.finish()
    }

    /// Inspects `data` fed whole and in several chunk sizes, asserting that every way gives the same result.
    fn inspect(data: &[u8]) -> Inspection {
        let whole = inspect_in_chunks(data, data.len().max(1));
        for chunk_len in [1, 7, 4093, 64 * KIB] {
            assert_eq!(inspect_in_chunks(data, chunk_len), whole, "chunk size {chunk_len}");
        }
        whole
    }

    fn assert_safety_fails(inspection: &Inspection, expected: &str) {
        match &inspection.safety {
            Err(reason) => assert!(reason.contains(expected), "{reason:?} does not mention {expected:?}"),
            Ok(()) => panic!("safety checks passed, expected {expected:?}"),
        }
    }

    /// A temporary directory for qemu-img output, or `None` (with a note) when qemu-img is not installed.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Option<Self> {
            if Command::new("qemu-img").arg("--version").output().is_err() {
                eprintln!("skipping {test}: qemu-img is not installed");
                return None;
            }
            let dir = env::temp_dir().join(format!("inspect-{}-{test}", process::id()));
            fs::create_dir_all(&dir).unwrap();
            Some(Self(dir))
        }

        fn qemu_img(&self, args: &[&str]) -> String {
            let output = Command::new("qemu-img").current_dir(&self.0).args(args).output().unwrap();
            assert!(output.status.success(), "qemu-img {args:?}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8(output.stdout).unwrap()
        }

        fn create(&self, file: &str, format: &str, options: &str, size: &str) -> Vec<u8> {
            let mut args = vec!["create", "-q", "-f", format];
            if !options.is_empty() {
                args.extend(["-o", options]);
            }
            args.push(file);
            if !size.is_empty() {
                args.push(size);
            }
            self.qemu_img(&args);
            self.read(file)
        }

        fn read(&self, file: &str) -> Vec<u8> {
            fs::read(self.0.join(file)).unwrap()
        }

        fn virtual_size(&self, file: &str) -> u64 {
            let info = self.qemu_img(&["info", file]);
            let line = info.lines().find(|line| line.starts_with("virtual size:")).unwrap();
            let bytes = line.rsplit_once('(').unwrap().1.trim_end_matches(" bytes)");
            bytes.parse().unwrap()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn partition(boot: u8, os_type: u8, start_chs: [u8; 3], start_lba: u32, sectors: u32) -> [u8; 16] {
        let mut entry = [0; 16];
        entry[0] = boot;
        entry[1..4].copy_from_slice(&start_chs);
        entry[4] = os_type;
        entry[8..12].copy_from_slice(&start_lba.to_le_bytes());
        entry[12..16].copy_from_slice(&sectors.to_le_bytes());
        entry
    }

    fn with_mbr(mut data: Vec<u8>, partitions: &[[u8; 16]]) -> Vec<u8> {
        for (i, entry) in partitions.iter().enumerate() {
            data[446 + 16 * i..462 + 16 * i].copy_from_slice(entry);
        }
        data[510..512].copy_from_slice(&[0x55, 0xAA]);
        data
    }

    fn iso(blocks: u32) -> Vec<u8> {
        let mut data = vec![0; 40 * KIB];
        let pvd = &mut data[32 * KIB..34 * KIB];
        pvd[0] = 1;
        pvd[1..6].copy_from_slice(b"CD001");
        pvd[6] = 1;
        pvd[80..84].copy_from_slice(&blocks.to_le_bytes());
        pvd[84..88].copy_from_slice(&blocks.to_be_bytes());
        pvd[128..130].copy_from_slice(&2048u16.to_le_bytes());
        pvd[130..132].copy_from_slice(&2048u16.to_be_bytes());
        data
    }

    #[test]
    fn qcow2_is_detected_with_its_virtual_size() {
        let Some(dir) = Scratch::new("qcow2") else { return };
        for (file, options) in [("v3.qcow2", ""), ("v2.qcow2", "compat=0.10")] {
            let data = dir.create(file, "qcow2", options, "10M");
            let inspection = inspect(&data);
            assert_eq!(inspection.format, DiskFormat::Qcow2, "{file}");
            assert_eq!(inspection.virtual_size, Some(10 << 20));
            assert_eq!(inspection.virtual_size, Some(dir.virtual_size(file)));
            assert_eq!(inspection.actual_size, data.len() as u64);
            assert_eq!(inspection.safety, Ok(()));
            assert!(inspection.also_matched.is_empty());
            assert_eq!(check_declared("qcow2", &inspection), Ok(()));
        }
    }

    #[test]
    fn qcow2_with_backing_file_is_refused() {
        let Some(dir) = Scratch::new("qcow2-backing") else { return };
        dir.create("base.raw", "raw", "", "1M");
        let data = dir.create("overlay.qcow2", "qcow2", "backing_file=base.raw,backing_fmt=raw", "");
        let inspection = inspect(&data);
        assert_eq!(inspection.format, DiskFormat::Qcow2);
        assert_safety_fails(&inspection, "backing_file: Image has a backing file");
        let error = check_declared("qcow2", &inspection).unwrap_err();
        assert!(error.starts_with("Image failed safety checks"), "{error}");
    }

    #[test]
    fn qcow2_with_data_file_is_refused() {
        let Some(dir) = Scratch::new("qcow2-data-file") else { return };
        let data = dir.create("external.qcow2", "qcow2", "data_file=external.data", "5M");
        let inspection = inspect(&data);
        assert_eq!(inspection.format, DiskFormat::Qcow2);
        assert_eq!(inspection.virtual_size, Some(5 << 20));
        assert_safety_fails(&inspection, "data_file: Image has data_file set");
        assert!(check_declared("qcow2", &inspection).is_err());
    }

    #[test]
    fn qcow2_with_unknown_incompatible_feature_is_refused() {
        let Some(dir) = Scratch::new("qcow2-extended-l2") else { return };
        let data = dir.create("l2.qcow2", "qcow2", "extended_l2=on", "1M");
        assert_safety_fails(&inspect(&data), "unknown_features: Unknown QCOW2 features found");
    }

    #[test]
    fn qcow2_version_and_feature_bits_from_handmade_headers() {
        let header = |version: u32, features: u64| {
            let mut data = vec![0; 512];
            data[..4].copy_from_slice(b"QFI\xfb");
            data[4..8].copy_from_slice(&version.to_be_bytes());
            data[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
            data[0x48..0x50].copy_from_slice(&features.to_be_bytes());
            inspect(&data)
        };
        assert_eq!(header(3, 0b1011).safety, Ok(()));
        assert_eq!(header(3, 0).virtual_size, Some(1 << 30));
        assert_safety_fails(&header(3, 1 << 4), "Unknown QCOW2 features found");
        assert_safety_fails(&header(3, 1 << 40), "Unknown QCOW2 features found");
        assert_safety_fails(&header(1, 0), "Unsupported qcow2 version");
        assert_safety_fails(&header(4, 0), "Unsupported qcow2 version");
        assert_eq!(header(2, 0).safety, Ok(()));
    }

    #[test]
    fn qcow2_declared_as_raw_is_a_mismatch() {
        let Some(dir) = Scratch::new("qcow2-as-raw") else { return };
        let inspection = inspect(&dir.create("disk.qcow2", "qcow2", "", "1M"));
        assert_eq!(inspection.format, DiskFormat::Qcow2);
        assert_eq!(
            check_declared("raw", &inspection),
            Err("Image disk_format raw does not match stream data qcow2".to_owned())
        );
        assert!(check_declared("vmdk", &inspection).is_err());
        assert!(check_declared("ami", &inspection).is_err());
    }

    #[test]
    fn truncated_qcow2_header_is_raw() {
        let data = b"QFI\xfb\0\0\0\x03\0\0";
        let inspection = inspect(data);
        assert_eq!(inspection.format, DiskFormat::Raw);
        assert_eq!(inspection.virtual_size, Some(10));
        assert_eq!(inspection.safety, Ok(()));
        assert_eq!(check_declared("raw", &inspection), Ok(()));
        assert_eq!(
            check_declared("qcow2", &inspection),
            Err("Image disk_format qcow2 does not match stream data raw".to_owned())
        );
        for len in 0..=data.len() {
            assert_eq!(inspect(&data[..len]).format, DiskFormat::Raw);
        }
    }

    #[test]
    fn raw_data_declared_raw_is_accepted() {
        let Some(dir) = Scratch::new("raw") else { return };
        let data = dir.create("disk.raw", "raw", "", "1M");
        let inspection = inspect(&data);
        assert_eq!(inspection.format, DiskFormat::Raw);
        assert_eq!(inspection.virtual_size, Some(1 << 20));
        assert_eq!(check_declared("raw", &inspection), Ok(()));
        assert_eq!(check_declared("ami", &inspection), Ok(()));
        assert_eq!(
            check_declared("qcow2", &inspection),
            Err("Image disk_format qcow2 does not match stream data raw".to_owned())
        );
        let empty = inspect(&[]);
        assert_eq!((empty.format, empty.virtual_size), (DiskFormat::Raw, Some(0)));
    }

    #[test]
    fn vmdk_sparse_and_stream_optimized_are_accepted() {
        let Some(dir) = Scratch::new("vmdk") else { return };
        for (file, subformat) in [("sparse.vmdk", "monolithicSparse"), ("stream.vmdk", "streamOptimized")] {
            let data = dir.create(file, "vmdk", &format!("subformat={subformat}"), "10M");
            let inspection = inspect(&data);
            assert_eq!(inspection.format, DiskFormat::Vmdk, "{file}");
            assert_eq!(inspection.virtual_size, Some(10 << 20));
            assert_eq!(inspection.virtual_size, Some(dir.virtual_size(file)));
            assert_eq!(inspection.safety, Ok(()), "{file}");
            assert_eq!(check_declared("vmdk", &inspection), Ok(()));
        }
    }

    /// Moves a streamOptimized VMDK's grain directory pointer into a footer, as VMware writes them (qemu does not).
    fn with_vmdk_footer(mut data: Vec<u8>) -> Vec<u8> {
        let footer = data[..512].to_vec();
        data[56..64].copy_from_slice(&VMDK_GD_AT_END.to_le_bytes());
        let mut marker = vec![0; 512];
        marker[0] = 1;
        marker[12] = 3;
        data.extend(marker);
        data.extend(footer);
        data.extend([0; 512]);
        data
    }

    #[test]
    fn vmdk_footer_is_checked() {
        let Some(dir) = Scratch::new("vmdk-footer") else { return };
        dir.create("base.raw", "raw", "", "1M");
        dir.qemu_img(&["convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", "base.raw", "s.vmdk"]);
        let data = with_vmdk_footer(dir.read("s.vmdk"));
        let inspection = inspect(&data);
        assert_eq!(inspection.format, DiskFormat::Vmdk);
        assert_eq!(inspection.virtual_size, Some(1 << 20));
        assert_eq!(inspection.safety, Ok(()));

        let len = data.len();
        let corrupt = |at: usize, reason: &str| {
            let mut data = data.clone();
            data[at] ^= 1;
            assert_safety_fails(&inspect(&data), reason);
        };
        corrupt(len - 100, "footer: End-of-stream marker is invalid");
        corrupt(len - 1024 + 4, "footer: Header and footer versions do not match");
        corrupt(len - 1024 + 36, "footer: Footer specifies a different descriptor than header");
        corrupt(len - 1536 + 12, "footer: Footer marker is invalid");
        let mut chained = data.clone();
        chained[len - 1024 + 56..len - 1024 + 64].copy_from_slice(&VMDK_GD_AT_END.to_le_bytes());
        assert_safety_fails(&inspect(&chained), "footer: Footer indicates another footer");

        let truncated = inspect(&data[..1000]);
        assert_eq!(truncated.format, DiskFormat::Vmdk);
        assert_safety_fails(&truncated, "Incomplete file cannot be safety checked");
    }

    #[test]
    fn vmdk_sparse_with_extent_path_is_refused() {
        let Some(dir) = Scratch::new("vmdk-extent-path") else { return };
        let mut data = dir.create("disk.vmdk", "vmdk", "", "1M");
        let at = data.windows(10).position(|window| window == b"\"disk.vmdk").unwrap();
        data[at + 1] = b'/';
        assert_safety_fails(&inspect(&data), "descriptor: Invalid extent filenames found");
    }

    #[test]
    fn vmdk_with_external_extents_is_refused() {
        let Some(dir) = Scratch::new("vmdk-external") else { return };
        for (file, subformat, extent) in [
            ("flat.vmdk", "monolithicFlat", "flat-flat.vmdk"),
            ("split.vmdk", "twoGbMaxExtentSparse", "split-s001.vmdk"),
            ("splitflat.vmdk", "twoGbMaxExtentFlat", "splitflat-f001.vmdk"),
        ] {
            let inspection = inspect(&dir.create(file, "vmdk", &format!("subformat={subformat}"), "1M"));
            assert_eq!(inspection.format, DiskFormat::Vmdk, "{file}");
            assert_eq!(inspection.virtual_size, None);
            assert_safety_fails(&inspection, "descriptor: Unsupported subformat");
            assert!(check_declared("vmdk", &inspection).is_err());
            assert!(check_declared("raw", &inspection).is_err());
            assert!(check_declared("vmdk", &inspect(&dir.read(extent))).is_err(), "{extent}");
        }
    }

    #[test]
    fn text_files_are_raw_unless_they_are_vmdk_descriptors() {
        let text = "#!/bin/sh\necho hello world\n".repeat(100);
        assert_eq!(inspect(text.as_bytes()).format, DiskFormat::Raw);

        let descriptor =
            "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicSparse\"\nRW 2048 SPARSE \"other.vmdk\"\n";
        let inspection = inspect(descriptor.as_bytes());
        assert_eq!(inspection.format, DiskFormat::Vmdk);
        assert_safety_fails(&inspection, "sparse_header: Descriptor-only VMDK images are not supported");

        let escaping = descriptor.replace("other.vmdk", "/etc/shadow");
        assert_safety_fails(&inspect(escaping.as_bytes()), "descriptor: Invalid extent filenames found");
        let odd_line = descriptor.replace("version=1", "something unexpected");
        assert_safety_fails(&inspect(odd_line.as_bytes()), "descriptor: Invalid VMDK descriptor data");
    }

    #[test]
    fn vhd_is_detected_with_its_virtual_size() {
        let Some(dir) = Scratch::new("vhd") else { return };
        let data = dir.create("disk.vhd", "vpc", "", "10M");
        let inspection = inspect(&data);
        assert_eq!(inspection.format, DiskFormat::Vhd);
        assert_eq!(inspection.virtual_size, Some(dir.virtual_size("disk.vhd")));
        assert_eq!(check_declared("vhd", &inspection), Ok(()));

        let truncated = inspect(&data[..100]);
        assert_eq!(truncated.format, DiskFormat::Vhd);
        assert_safety_fails(&truncated, "Incomplete file cannot be safety checked");
    }

    #[test]
    fn vhdx_is_detected_with_its_virtual_size() {
        let Some(dir) = Scratch::new("vhdx") else { return };
        let data = dir.create("disk.vhdx", "vhdx", "", "10M");
        let inspection = inspect(&data);
        assert_eq!(inspection.format, DiskFormat::Vhdx);
        assert_eq!(inspection.virtual_size, Some(10 << 20));
        assert_eq!(inspection.virtual_size, Some(dir.virtual_size("disk.vhdx")));
        assert_eq!(check_declared("vhdx", &inspection), Ok(()));

        let truncated = inspect(&data[..300 * KIB]);
        assert_eq!(truncated.format, DiskFormat::Vhdx);
        assert_eq!(truncated.virtual_size, None);
        assert_safety_fails(&truncated, "Incomplete file cannot be safety checked");

        let mut bad_table = data.clone();
        bad_table[VHDX_REGION_TABLE] = b'x';
        assert_eq!(inspect(&bad_table[..512 * KIB]).format, DiskFormat::Raw);
    }

    #[test]
    fn vdi_is_detected_with_its_virtual_size() {
        let Some(dir) = Scratch::new("vdi") else { return };
        let inspection = inspect(&dir.create("disk.vdi", "vdi", "", "10M"));
        assert_eq!(inspection.format, DiskFormat::Vdi);
        assert_eq!(inspection.virtual_size, Some(10 << 20));
        assert_eq!(check_declared("vdi", &inspection), Ok(()));
    }

    #[test]
    fn iso_is_detected_with_its_virtual_size() {
        let inspection = inspect(&iso(100));
        assert_eq!(inspection.format, DiskFormat::Iso);
        assert_eq!(inspection.virtual_size, Some(100 * 2048));
        assert_eq!(check_declared("iso", &inspection), Ok(()));
        assert!(check_declared("raw", &inspection).is_err());
        assert_eq!(inspect(&iso(100)[..33 * KIB]).format, DiskFormat::Raw);
    }

    #[test]
    fn hybrid_iso_with_partition_table_is_accepted_as_iso() {
        let inspection = inspect(&with_mbr(iso(100), &[partition(0x80, 0x17, [0, 1, 0], 0, 200)]));
        assert_eq!(inspection.format, DiskFormat::Iso);
        assert_eq!(inspection.also_matched, vec![DiskFormat::Gpt]);
        assert_eq!(check_declared("iso", &inspection), Ok(()));
        assert!(check_declared("raw", &inspection).is_err());
    }

    #[test]
    fn partitioned_disks_are_raw_with_mbr_checks() {
        let protective = with_mbr(vec![0; 8192], &[partition(0, 0xEE, [0, 2, 0], 1, u32::MAX)]);
        let inspection = inspect(&protective);
        assert_eq!(inspection.format, DiskFormat::Gpt);
        assert_eq!(inspection.virtual_size, Some(8192));
        assert_eq!(check_declared("raw", &inspection), Ok(()));
        assert_eq!(check_declared("gpt", &inspection), Ok(()));
        assert!(check_declared("qcow2", &inspection).is_err());

        let dos = with_mbr(vec![0; 8192], &[partition(0x80, 0x83, [0x20, 0x21, 0], 2048, 4096)]);
        assert_eq!(check_declared("raw", &inspect(&dos)), Ok(()));

        let cases = [
            (vec![partition(0x01, 0x83, [0, 0, 0], 2048, 1)], "MBR PTE 0 has invalid boot flag"),
            (vec![partition(0, 0xEE, [0, 3, 0], 1, 1)], "GPT MBR has invalid start CHS"),
            (vec![partition(0, 0xEE, [0, 2, 0], 2, 1)], "GPT MBR has invalid start LBA"),
            (vec![[0; 16], partition(0, 0xEE, [0, 2, 0], 1, 1)], "GPT MBR defines invalid extra partitions"),
            (vec![], "GPT MBR has no partitions defined"),
        ];
        for (partitions, reason) in cases {
            let inspection = inspect(&with_mbr(vec![0; 8192], &partitions));
            assert_safety_fails(&inspection, reason);
            assert!(check_declared("raw", &inspection).is_err(), "{reason}");
        }

        let mut fat = with_mbr(vec![0; 8192], &[]);
        fat[0x10] = 2;
        fat[0x15] = 0xF8;
        assert_eq!(inspect(&fat).format, DiskFormat::Raw);
    }

    #[test]
    fn multiple_formats_are_refused() {
        let mut data = vec![0; 4096];
        data[..8].copy_from_slice(b"QFI\xfb\0\0\0\x03");
        let inspection = inspect(&with_mbr(data, &[partition(0x80, 0x83, [0, 1, 0], 1, 8)]));
        assert_eq!(
            (inspection.format, inspection.also_matched.as_slice()),
            (DiskFormat::Qcow2, &[DiskFormat::Gpt][..])
        );
        assert_eq!(check_declared("qcow2", &inspection), Err("Multiple formats detected: qcow2,gpt".to_owned()));
    }

    #[test]
    fn qed_is_banned() {
        let mut data = vec![0; 4096];
        data[..4].copy_from_slice(b"QED\0");
        let inspection = inspect(&data);
        assert_eq!(inspection.format, DiskFormat::Qed);
        assert_safety_fails(&inspection, "banned: This file format is not allowed");
        assert!(check_declared("raw", &inspection).is_err());
    }

    #[test]
    fn luks_version_is_checked() {
        let luks = |version: u16| {
            let mut data = vec![0; 8192];
            data[..6].copy_from_slice(b"LUKS\xba\xbe");
            data[6..8].copy_from_slice(&version.to_be_bytes());
            data[104..108].copy_from_slice(&8u32.to_be_bytes());
            inspect(&data)
        };
        let v1 = luks(1);
        assert_eq!((v1.format, v1.virtual_size, v1.safety), (DiskFormat::Luks, Some(4096), Ok(())));
        assert_safety_fails(&luks(2), "version: LUKS version 2 is not supported");
    }

    fn buffered(inspector: &Inspector) -> usize {
        let vhdx = match &inspector.vhdx {
            Vhdx::Metadata(region) | Vhdx::MetadataWithoutSize(region) | Vhdx::Size(region) => region.data.len(),
            _ => 0,
        };
        inspector.head.len() + inspector.tail.len() + vhdx
    }

    #[test]
    fn memory_stays_bounded() {
        let bound = HEAD_LEN + 2 * TAIL_LEN + VHDX_TABLE_LEN;
        let mut inspector = Inspector::new();
        let chunk = vec![0xA5; (1 << 20) - 3];
        for _ in 0..64 {
            inspector.feed(&chunk);
            assert!(buffered(&inspector) <= bound);
        }
        assert_eq!(inspector.finish().virtual_size, Some(64 * ((1 << 20) - 3)));

        let Some(dir) = Scratch::new("memory") else { return };
        let mut inspector = Inspector::new();
        for chunk in dir.create("disk.vhdx", "vhdx", "", "64M").chunks(1000) {
            inspector.feed(chunk);
            assert!(buffered(&inspector) <= bound);
        }
        assert_eq!(inspector.finish().virtual_size, Some(64 << 20));
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    fn inspect_randomly_chunked(data: &[u8], rng: &mut XorShift) -> Inspection {
        let mut inspector = Inspector::new();
        let mut rest = data;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at((1 + rng.below(8192)).min(rest.len()));
            inspector.feed(chunk);
            rest = tail;
        }
        inspector.finish()
    }

    fn put(data: &mut [u8], at: usize, bytes: &[u8]) {
        if let Some(target) = data.get_mut(at..at + bytes.len()) {
            target.copy_from_slice(bytes);
        }
    }

    #[test]
    fn random_data_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let magics: [&[u8]; 9] = [
            b"",
            b"QFI\xfb",
            b"KDMV",
            b"conectix",
            b"vhdxfile",
            b"QED\0",
            b"LUKS\xba\xbe",
            b"# Disk Descriptor",
            b"\0",
        ];
        for round in 0..400 {
            let len = match rng.below(4) {
                0 => rng.below(600),
                1 => rng.below(8 * KIB),
                _ => rng.below(320 * KIB),
            };
            let mut data = rng.bytes(len);
            put(&mut data, 0, magics[rng.below(magics.len())]);
            if rng.below(2) == 0 {
                put(&mut data, 0, b"KDMV\x01\0\0\0");
                put(&mut data, 28, &1u64.to_le_bytes());
                put(&mut data, 36, &(rng.below(4) as u64).to_le_bytes());
                put(&mut data, 56, &u64::MAX.to_le_bytes());
            }
            if rng.below(3) == 0 {
                put(&mut data, 0, VHDX_IDENT);
                put(&mut data, VHDX_REGION_TABLE, b"regi");
                put(&mut data, VHDX_REGION_TABLE + 8, &(rng.below(4) as u32 + 1).to_le_bytes());
                let meta = rng.below(len.max(1)) as u64;
                put(&mut data, VHDX_REGION_TABLE + 16, &VHDX_METADATA_REGION);
                put(&mut data, VHDX_REGION_TABLE + 32, &meta.to_le_bytes());
                let meta = meta as usize;
                put(&mut data, meta, b"metadata");
                put(&mut data, meta + 10, &(rng.below(3) as u16 + 1).to_le_bytes());
                put(&mut data, meta + 32, &VHDX_VIRTUAL_DISK_SIZE);
                put(&mut data, meta + 48, &(rng.below(64 * KIB) as u32).to_le_bytes());
                put(&mut data, meta + 52, &[8, 8, rng.below(16) as u32][rng.below(3)].to_le_bytes());
            }
            if rng.below(4) == 0 {
                put(&mut data, 510, &[0x55, 0xAA]);
                put(&mut data, 32 * KIB + 1, b"CD001");
            }
            let whole = inspect_in_chunks(&data, data.len().max(1));
            assert_eq!(inspect_randomly_chunked(&data, &mut rng), whole, "round {round}, {len} bytes");
            assert_eq!(whole.actual_size, len as u64);
            for name in ["raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "ami", "ploop"] {
                let _ = check_declared(name, &whole);
            }
        }
    }
}
