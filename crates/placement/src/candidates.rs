//! Allocation candidates: which sets of providers can satisfy a request,
//! computed in memory over a [`Snapshot`] of the provider trees. Plain Rust:
//! no HTTP, no SQL. The API layer parses the query string into a
//! [`CandidateRequest`] (names already resolved to ids) and renders the
//! [`Candidates`] per microversion.
//!
//! Mirrors upstream Placement's `AllocationCandidates.get_by_requests`: every
//! root provider is a possible *anchor*; for each anchor every request group
//! gets a list of providers that may serve it (providers of the anchor's tree
//! plus sharing providers that share an aggregate with some provider of that
//! tree), and the candidates are the cartesian product of those lists,
//! filtered by group_policy, same_subtree, traits and summed capacity. The
//! unsuffixed group is split into one list per resource class. Candidates
//! come out anchor by anchor (in provider index order) and in product order,
//! which is the deterministic order upstream leaves undefined; that order
//! lets a `limit` stop the search early with the same result as truncating.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use rand::seq::SliceRandom;

/// One inventory of a provider, with what is allocated against it.
#[derive(Clone, Debug, PartialEq)]
pub struct Inventory {
    pub resource_class: i64,
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
    /// Sum of all allocations of this class on this provider.
    pub used: i64,
}

impl Inventory {
    /// Placement's capacity: (total - reserved) * allocation_ratio, truncated.
    pub fn capacity(&self) -> i64 {
        ((self.total - self.reserved) as f64 * self.allocation_ratio) as i64
    }
}

/// One resource provider.
#[derive(Clone, Debug)]
pub struct Provider {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub generation: i64,
    /// Index into [`Snapshot::providers`] of the parent, if any.
    pub parent: Option<usize>,
    /// Index into [`Snapshot::providers`] of the tree's root (itself for a root).
    pub root: usize,
    /// Sorted by resource class id.
    pub inventories: Vec<Inventory>,
    /// Trait ids, sorted.
    pub traits: Vec<i64>,
    /// Aggregate UUIDs, sorted.
    pub aggregates: Vec<String>,
}

/// Every provider, with names for the ids it uses.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub providers: Vec<Provider>,
    /// Provider UUID -> index into `providers`.
    pub by_uuid: HashMap<String, usize>,
    /// Id of the `MISC_SHARES_VIA_AGGREGATE` trait, if it exists.
    pub shares_trait: Option<i64>,
}

/// One request group: the unsuffixed group (suffix "") or a granular one.
#[derive(Clone, Debug, Default)]
pub struct RequestGroup {
    pub suffix: String,
    /// (resource class id, amount), amount >= 1. May be empty only for a
    /// suffixed group named in `same_subtree` (1.36).
    pub resources: Vec<(i64, i64)>,
    /// Required traits: every inner list must have at least one trait on the
    /// provider (AND of ORs; an inner list of one is a plain required trait).
    pub required_traits: Vec<Vec<i64>>,
    pub forbidden_traits: Vec<i64>,
    /// member_of: every inner list needs one aggregate the provider is in.
    pub member_of: Vec<Vec<String>>,
    pub forbidden_aggregates: Vec<String>,
    /// in_tree: only providers in the tree of this provider (index). `Some`
    /// of an unknown provider is expressed by the API layer as an empty answer.
    pub in_tree: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupPolicy {
    None,
    Isolate,
}

#[derive(Clone, Debug, Default)]
pub struct CandidateRequest {
    /// The unsuffixed group (if it has anything) first, then the suffixed
    /// ones in suffix order.
    pub groups: Vec<RequestGroup>,
    pub group_policy: Option<GroupPolicy>,
    /// Each inner list: suffixes whose providers must share one common
    /// ancestor among them (1.36).
    pub same_subtree: Vec<Vec<String>>,
    /// root_required (1.35): the root of each candidate's tree must have
    /// these (AND of ORs, as `required_traits`) and lack `root_forbidden`.
    pub root_required: Vec<Vec<i64>>,
    pub root_forbidden: Vec<i64>,
    pub limit: Option<usize>,
    /// Shuffle before applying `limit` (`randomize_allocation_candidates`).
    pub randomize: bool,
    /// Microversion >= 1.29: nested providers may satisfy the unsuffixed
    /// group; below it, only root providers (and sharing providers) count.
    pub nested: bool,
}

/// One way to satisfy the request.
#[derive(Clone, Debug, PartialEq)]
pub struct AllocationRequest {
    /// Provider index -> (resource class id -> amount), summed over groups.
    pub allocations: BTreeMap<usize, BTreeMap<i64, i64>>,
    /// Suffix -> provider indexes that satisfied that group (1.34 `mappings`).
    pub mappings: BTreeMap<String, Vec<usize>>,
}

#[derive(Clone, Debug, Default)]
pub struct Candidates {
    pub allocation_requests: Vec<AllocationRequest>,
    /// Providers to describe in `provider_summaries`.
    pub summaries: Vec<usize>,
}

/// `[placement]allocation_candidates_generation_strategy`: the order in which
/// anchors are visited. It only matters together with a `limit` (without
/// `randomize`) or [`Options::max_candidates`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Every candidate of one anchor before the next anchor (upstream default).
    #[default]
    DepthFirst,
    /// One candidate of each anchor in turn.
    BreadthFirst,
}

/// Service-wide knobs from upstream's `[placement]` configuration section.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub strategy: Strategy,
    /// `max_allocation_candidates`: stop generating after this many distinct
    /// candidates, before `limit` applies. `None` is upstream's default -1.
    pub max_candidates: Option<usize>,
}

/// Computes the candidates for a request with the default [`Options`].
pub fn compute(snapshot: &Snapshot, request: &CandidateRequest) -> Candidates {
    compute_with(snapshot, request, &Options::default())
}

/// Computes the candidates for a request.
pub fn compute_with(snapshot: &Snapshot, request: &CandidateRequest, options: &Options) -> Candidates {
    match Plan::new(snapshot, request) {
        Some(plan) => {
            let found = plan.generate(options);
            plan.finish(found, plan.req.limit.filter(|&l| l > 0))
        }
        None => Candidates::default(),
    }
}

/// The candidates of a request in generation order, before they are written
/// out: a caller that weighs candidates by their tree and claims one (the
/// compute scheduler) builds the [`AllocationRequest`] of that one only.
/// `limit` truncates; `randomize` is not applied.
pub struct Choices<'a> {
    /// None when no provider can satisfy the request.
    plan: Option<Plan<'a>>,
    found: Found,
}

/// Generates the candidates of a request without writing them out.
pub fn choices<'a>(snapshot: &'a Snapshot, request: &'a CandidateRequest, options: &Options) -> Choices<'a> {
    let plan = Plan::new(snapshot, request);
    let mut found = match &plan {
        Some(plan) => plan.generate(options),
        None => Found::default(),
    };
    if let Some(l) = request.limit.filter(|&l| l > 0) {
        found.count = found.count.min(l);
    }
    Choices { plan, found }
}

impl Choices<'_> {
    pub fn len(&self) -> usize {
        self.found.count
    }

    pub fn is_empty(&self) -> bool {
        self.found.count == 0
    }

    fn plan(&self) -> &Plan<'_> {
        self.plan.as_ref().expect("a candidate comes from a plan")
    }

    fn chosen(&self, i: usize) -> &[u32] {
        let width = self.plan().levels.len();
        &self.found.records[i * width..(i + 1) * width]
    }

    /// The root of the tree candidate `i` was found in (the tree of its
    /// first provider that is not a sharing one).
    pub fn root(&self, i: usize) -> usize {
        let chosen = self.chosen(i);
        let plan = self.plan();
        let p = chosen.iter().find(|&&p| !plan.is_sharing[p as usize]).unwrap_or(&chosen[0]);
        plan.snap.providers[*p as usize].root
    }

    /// Candidate `i` as an allocation request.
    pub fn materialize(&self, i: usize) -> AllocationRequest {
        self.plan().materialize(self.chosen(i))
    }
}

/// One position of the product: a resource class of the unsuffixed group or
/// a whole suffixed group.
#[derive(Clone, Copy)]
enum Level {
    Rc { rc: i64, amount: i64 },
    Group(usize),
}

/// Everything derived from the request and the snapshot once per call.
struct Plan<'a> {
    snap: &'a Snapshot,
    req: &'a CandidateRequest,
    levels: Vec<Level>,
    /// Whether the level puts resources in the allocations.
    allocates: Vec<bool>,
    /// Levels of each group of `req.groups`.
    group_levels: Vec<Range<usize>>,
    unsuffixed: Option<usize>,
    /// Root of each group's `in_tree` provider.
    in_tree_root: Vec<Option<usize>>,
    isolate: bool,
    /// Below 1.29 with trees present: no two providers of one tree per candidate.
    exclude_nested: bool,
    /// Group indexes of each same_subtree constraint.
    subtrees: Vec<Vec<usize>>,
    /// Constraints to check once a level is chosen (their last level).
    checks_at: Vec<Vec<usize>>,
    is_sharing: Vec<bool>,
    /// Providers of each tree, by root: `tree_members[tree_start[r]..tree_start[r + 1]]`.
    tree_start: Vec<u32>,
    tree_members: Vec<u32>,
    /// Sharing providers that fit at least one level, in index order.
    sharing: Vec<u32>,
    /// `sharing_fit[s * levels.len() + l]`: sharing provider `s` can serve level `l`.
    sharing_fit: Vec<bool>,
    level_has_sharing: Vec<bool>,
    /// Aggregate -> indexes into `sharing`.
    sharing_by_agg: HashMap<&'a str, Vec<u32>>,
}

/// Per-anchor provider lists, one per level, flattened.
#[derive(Default)]
struct Lists {
    items: Vec<u32>,
    bounds: Vec<u32>,
}

impl Lists {
    fn clear(&mut self) {
        self.items.clear();
        self.bounds.clear();
        self.bounds.push(0);
    }

    fn level(&self, l: usize) -> &[u32] {
        &self.items[self.bounds[l] as usize..self.bounds[l + 1] as usize]
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DfsState {
    Fresh,
    Running,
    Done,
}

/// Resumable depth-first walk of one anchor's product, pruning on the way.
struct Dfs {
    pos: Vec<u32>,
    chosen: Vec<u32>,
    /// (provider, resource class, amount) added by the chosen levels.
    acc: Vec<(u32, i64, i64)>,
    /// `acc` length before each level's contributions.
    marks: Vec<usize>,
    state: DfsState,
}

impl Dfs {
    fn new(levels: usize) -> Self {
        Dfs {
            pos: vec![0; levels],
            chosen: vec![0; levels],
            acc: Vec::new(),
            marks: vec![0; levels],
            state: DfsState::Fresh,
        }
    }

    fn reset(&mut self) {
        self.acc.clear();
        self.state = DfsState::Fresh;
    }

    /// Moves to the next valid full choice; false when exhausted.
    fn next(&mut self, plan: &Plan, lists: &Lists) -> bool {
        let last = plan.levels.len() - 1;
        let mut d = match self.state {
            DfsState::Done => return false,
            DfsState::Fresh => {
                self.pos[0] = 0;
                0
            }
            DfsState::Running => {
                self.acc.truncate(self.marks[last]);
                self.pos[last] += 1;
                last
            }
        };
        self.state = DfsState::Running;
        loop {
            let choices = lists.level(d);
            let pos = self.pos[d] as usize;
            if pos >= choices.len() {
                if d == 0 {
                    self.state = DfsState::Done;
                    return false;
                }
                d -= 1;
                self.acc.truncate(self.marks[d]);
                self.pos[d] += 1;
                continue;
            }
            self.marks[d] = self.acc.len();
            if plan.place(d, choices[pos], &mut self.chosen, &mut self.acc) {
                if d == last {
                    return true;
                }
                d += 1;
                self.pos[d] = 0;
            } else {
                self.acc.truncate(self.marks[d]);
                self.pos[d] += 1;
            }
        }
    }
}

/// Distinct candidates found so far, as chosen providers per level.
#[derive(Default)]
struct Found {
    records: Vec<u32>,
    count: usize,
    /// Candidates made only of sharing providers can come from several anchors.
    seen: HashSet<Vec<u32>>,
    /// Providers allocated from by any candidate (used when `exclude_nested`).
    used: Vec<bool>,
}

fn inv_fits(p: &Provider, rc: i64, amount: i64) -> bool {
    p.inventories.iter().any(|inv| {
        inv.resource_class == rc
            && inv.used.checked_add(amount).is_some_and(|n| n <= inv.capacity())
            && inv.min_unit <= amount
            && amount <= inv.max_unit
            && inv.step_size > 0
            && amount % inv.step_size == 0
    })
}

fn has_traits(traits: &[i64], required: &[Vec<i64>]) -> bool {
    required.iter().all(|any| any.iter().any(|t| traits.binary_search(t).is_ok()))
}

fn has_any_trait(traits: &[i64], forbidden: &[i64]) -> bool {
    forbidden.iter().any(|t| traits.binary_search(t).is_ok())
}

fn in_aggs(aggs: &[String], member_of: &[Vec<String>]) -> bool {
    member_of.iter().all(|any| any.iter().any(|a| aggs.binary_search(a).is_ok()))
}

fn in_any_agg(aggs: &[String], forbidden: &[String]) -> bool {
    forbidden.iter().any(|a| aggs.binary_search(a).is_ok())
}

/// Sorts `v[start..]` and removes duplicates from it.
fn sort_dedup_tail(v: &mut Vec<u32>, start: usize) {
    v[start..].sort_unstable();
    let mut w = start;
    for r in start..v.len() {
        if w == start || v[r] != v[w - 1] {
            v[w] = v[r];
            w += 1;
        }
    }
    v.truncate(w);
}

impl<'a> Plan<'a> {
    fn new(snap: &'a Snapshot, req: &'a CandidateRequest) -> Option<Self> {
        let providers = &snap.providers;
        let n = providers.len();
        if req.groups.is_empty() || n == 0 {
            return None;
        }
        let mut levels = Vec::new();
        let mut allocates = Vec::new();
        let mut group_levels = Vec::with_capacity(req.groups.len());
        let mut unsuffixed = None;
        let mut in_tree_root = Vec::with_capacity(req.groups.len());
        for (g, group) in req.groups.iter().enumerate() {
            let start = levels.len();
            if group.suffix.is_empty() {
                // Upstream finds nothing for an unsuffixed group without resources.
                if group.resources.is_empty() {
                    return None;
                }
                unsuffixed = Some(g);
                let mut resources = group.resources.clone();
                resources.sort_unstable();
                for (rc, amount) in resources {
                    levels.push(Level::Rc { rc, amount });
                    allocates.push(true);
                }
            } else {
                levels.push(Level::Group(g));
                allocates.push(!group.resources.is_empty());
            }
            group_levels.push(start..levels.len());
            in_tree_root.push(match group.in_tree {
                Some(i) => Some(providers.get(i)?.root),
                None => None,
            });
        }

        let mut subtrees = Vec::new();
        let mut checks_at = vec![Vec::new(); levels.len()];
        for names in &req.same_subtree {
            let mut groups: Vec<usize> =
                names.iter().filter_map(|s| req.groups.iter().position(|g| &g.suffix == s)).collect();
            groups.sort_unstable();
            groups.dedup();
            if let Some(last) = groups.iter().map(|&g| group_levels[g].end - 1).max() {
                checks_at[last].push(subtrees.len());
                subtrees.push(groups);
            }
        }

        let has_trees = providers.iter().any(|p| p.parent.is_some());
        let mut tree_start = vec![0u32; n + 1];
        for p in providers {
            tree_start[p.root + 1] += 1;
        }
        for i in 0..n {
            tree_start[i + 1] += tree_start[i];
        }
        let mut cursor = tree_start.clone();
        let mut tree_members = vec![0u32; n];
        for (i, p) in providers.iter().enumerate() {
            tree_members[cursor[p.root] as usize] = i as u32;
            cursor[p.root] += 1;
        }

        let is_sharing = match snap.shares_trait {
            Some(t) => providers.iter().map(|p| p.traits.binary_search(&t).is_ok()).collect(),
            None => vec![false; n],
        };

        let mut plan = Plan {
            snap,
            req,
            allocates,
            group_levels,
            unsuffixed,
            in_tree_root,
            isolate: req.group_policy == Some(GroupPolicy::Isolate),
            exclude_nested: !req.nested && has_trees,
            subtrees,
            checks_at,
            is_sharing,
            tree_start,
            tree_members,
            sharing: Vec::new(),
            sharing_fit: Vec::new(),
            level_has_sharing: vec![false; levels.len()],
            sharing_by_agg: HashMap::new(),
            levels,
        };
        plan.index_sharing();
        Some(plan)
    }

    /// Finds the sharing providers that can serve some level, and indexes
    /// them by aggregate.
    fn index_sharing(&mut self) {
        let width = self.levels.len();
        let mut row = vec![false; width];
        for s in 0..self.snap.providers.len() {
            if !self.is_sharing[s] {
                continue;
            }
            for (l, fit) in row.iter_mut().enumerate() {
                *fit = self.sharing_fits(l, s);
            }
            if !row.contains(&true) {
                continue;
            }
            let idx = self.sharing.len() as u32;
            self.sharing.push(s as u32);
            self.sharing_fit.extend_from_slice(&row);
            for (has, &fit) in self.level_has_sharing.iter_mut().zip(&row) {
                *has |= fit;
            }
            for agg in &self.snap.providers[s].aggregates {
                self.sharing_by_agg.entry(agg.as_str()).or_default().push(idx);
            }
        }
    }

    /// Whether sharing provider `s` can serve level `l` for anchors other
    /// than its own root (anchor-specific checks aside).
    fn sharing_fits(&self, l: usize, s: usize) -> bool {
        match self.levels[l] {
            Level::Rc { rc, amount } => {
                let u = self.unsuffixed.expect("rc level without unsuffixed group");
                let group = &self.req.groups[u];
                let p = &self.snap.providers[s];
                // A sharing provider lends its resources to other trees only
                // without in_tree, and only if it is itself in member_of.
                group.in_tree.is_none()
                    && inv_fits(p, rc, amount)
                    && !has_any_trait(&p.traits, &group.forbidden_traits)
                    && in_aggs(&p.aggregates, &group.member_of)
                    && !in_any_agg(&p.aggregates, &group.forbidden_aggregates)
            }
            Level::Group(g) => self.fits_group(g, s),
        }
    }

    /// Whether provider `p` alone satisfies suffixed group `g`.
    fn fits_group(&self, g: usize, p: usize) -> bool {
        let group = &self.req.groups[g];
        let prov = &self.snap.providers[p];
        if group.resources.is_empty() {
            // As upstream: a resourceless group only matches through required
            // traits or member_of, and its in_tree is not applied.
            if group.required_traits.is_empty() && group.member_of.is_empty() {
                return false;
            }
        } else {
            if self.in_tree_root[g].is_some_and(|root| root != prov.root) {
                return false;
            }
            if !group.resources.iter().all(|&(rc, amount)| inv_fits(prov, rc, amount)) {
                return false;
            }
        }
        has_traits(&prov.traits, &group.required_traits)
            && !has_any_trait(&prov.traits, &group.forbidden_traits)
            && in_aggs(&prov.aggregates, &group.member_of)
            && !in_any_agg(&prov.aggregates, &group.forbidden_aggregates)
    }

    fn members(&self, root: usize) -> &[u32] {
        &self.tree_members[self.tree_start[root] as usize..self.tree_start[root + 1] as usize]
    }

    fn anchor_ok(&self, a: usize) -> bool {
        let p = &self.snap.providers[a];
        p.parent.is_none()
            && has_traits(&p.traits, &self.req.root_required)
            && !has_any_trait(&p.traits, &self.req.root_forbidden)
    }

    fn anchors(&self) -> impl Iterator<Item = usize> + '_ {
        // An unsuffixed in_tree confines every candidate to that tree.
        let range = match self.unsuffixed.and_then(|u| self.in_tree_root[u]) {
            Some(root) => root..root + 1,
            None => 0..self.snap.providers.len(),
        };
        range.filter(|&a| self.anchor_ok(a))
    }

    /// Sharing providers (indexes into `self.sharing`) anchored at `a`.
    fn shared_with(&self, a: usize, out: &mut Vec<u32>) {
        out.clear();
        for &m in self.members(a) {
            for agg in &self.snap.providers[m as usize].aggregates {
                if let Some(list) = self.sharing_by_agg.get(agg.as_str()) {
                    out.extend_from_slice(list);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Fills the per-level provider lists of anchor `a`; false if some level
    /// has no provider.
    fn build(&self, a: usize, lists: &mut Lists, shared: &mut Vec<u32>) -> bool {
        lists.clear();
        let providers = &self.snap.providers;
        let anchor = &providers[a];
        let members = self.members(a);
        let mut anchor_in_aggs = true;
        if let Some(u) = self.unsuffixed {
            let group = &self.req.groups[u];
            // The unsuffixed group's aggregate filters apply to a provider or
            // its root; in_tree excludes every other tree.
            if in_any_agg(&anchor.aggregates, &group.forbidden_aggregates)
                || self.in_tree_root[u].is_some_and(|root| root != a)
            {
                return false;
            }
            anchor_in_aggs = in_aggs(&anchor.aggregates, &group.member_of);
        }
        let width = self.levels.len();
        let mut shared_ready = false;
        for (l, level) in self.levels.iter().enumerate() {
            let start = lists.items.len();
            match *level {
                Level::Rc { rc, amount } => {
                    let group = &self.req.groups[self.unsuffixed.unwrap_or_default()];
                    for &m in members {
                        let p = &providers[m as usize];
                        if inv_fits(p, rc, amount)
                            && !has_any_trait(&p.traits, &group.forbidden_traits)
                            && (anchor_in_aggs || in_aggs(&p.aggregates, &group.member_of))
                            && !in_any_agg(&p.aggregates, &group.forbidden_aggregates)
                        {
                            lists.items.push(m);
                        }
                    }
                }
                Level::Group(g) => {
                    lists.items.extend(members.iter().copied().filter(|&m| self.fits_group(g, m as usize)));
                }
            }
            if self.level_has_sharing[l] {
                if !shared_ready {
                    self.shared_with(a, shared);
                    shared_ready = true;
                }
                let before = lists.items.len();
                for &s in shared.iter() {
                    if self.sharing_fit[s as usize * width + l] {
                        lists.items.push(self.sharing[s as usize]);
                    }
                }
                if before > start && lists.items.len() > before {
                    sort_dedup_tail(&mut lists.items, start);
                }
            }
            if lists.items.len() == start {
                return false;
            }
            lists.bounds.push(lists.items.len() as u32);
        }
        true
    }

    /// Chooses provider `p` for level `d` on top of the earlier levels'
    /// choices; false (leaving `acc` partly extended) if that breaks a rule.
    fn place(&self, d: usize, p: u32, chosen: &mut [u32], acc: &mut Vec<(u32, i64, i64)>) -> bool {
        chosen[d] = p;
        match self.levels[d] {
            Level::Rc { rc, amount } => {
                if !self.add(p, rc, amount, acc) {
                    return false;
                }
            }
            Level::Group(g) => {
                for &(rc, amount) in &self.req.groups[g].resources {
                    if !self.add(p, rc, amount, acc) {
                        return false;
                    }
                }
                // isolate: suffixed groups (resourceless ones too) on distinct providers.
                if self.isolate && (0..d).any(|e| matches!(self.levels[e], Level::Group(_)) && chosen[e] == p) {
                    return false;
                }
            }
        }
        if let Some(u) = self.unsuffixed {
            let range = self.group_levels[u].clone();
            // Required traits of the unsuffixed group may be spread over the
            // providers that supply its resources.
            if d + 1 == range.end {
                let providers = &self.snap.providers;
                let picked = &chosen[range];
                let ok = self.req.groups[u].required_traits.iter().all(|any| {
                    picked.iter().any(|&q| any.iter().any(|t| providers[q as usize].traits.binary_search(t).is_ok()))
                });
                if !ok {
                    return false;
                }
            }
        }
        self.checks_at[d].iter().all(|&c| self.same_subtree_ok(c, chosen))
    }

    /// Adds an amount to the candidate, checking the summed amount when
    /// several groups take the same class from the same provider.
    fn add(&self, p: u32, rc: i64, amount: i64, acc: &mut Vec<(u32, i64, i64)>) -> bool {
        let providers = &self.snap.providers;
        let root = providers[p as usize].root;
        let mut total = amount;
        let mut shared = false;
        for &(q, r, a) in acc.iter() {
            if q == p {
                if r == rc {
                    total = total.saturating_add(a);
                    shared = true;
                }
            } else if self.exclude_nested && providers[q as usize].root == root {
                return false;
            }
        }
        if shared {
            let Some(inv) = providers[p as usize].inventories.iter().find(|i| i.resource_class == rc) else {
                return false;
            };
            if inv.used.saturating_add(total) > inv.capacity() || total > inv.max_unit {
                return false;
            }
        }
        acc.push((p, rc, amount));
        true
    }

    /// One of the providers chosen for the constraint's groups is an
    /// ancestor-or-self of all of them.
    fn same_subtree_ok(&self, c: usize, chosen: &[u32]) -> bool {
        let picked = self.subtrees[c].iter().flat_map(|&g| chosen[self.group_levels[g].clone()].iter().copied());
        picked.clone().any(|r| picked.clone().all(|q| self.is_ancestor_or_self(r as usize, q as usize)))
    }

    fn is_ancestor_or_self(&self, r: usize, q: usize) -> bool {
        let mut cur = Some(q);
        while let Some(c) = cur {
            if c == r {
                return true;
            }
            cur = self.snap.providers[c].parent;
        }
        false
    }

    /// Records a full choice unless it duplicates an earlier one.
    fn collect(&self, chosen: &[u32], found: &mut Found) -> bool {
        // A non-sharing provider is only ever offered to its own root, so only
        // all-sharing candidates can repeat under another anchor.
        if chosen.iter().all(|&p| self.is_sharing[p as usize]) && !found.seen.insert(chosen.to_vec()) {
            return false;
        }
        found.records.extend_from_slice(chosen);
        found.count += 1;
        if self.exclude_nested {
            for (l, &p) in chosen.iter().enumerate() {
                if self.allocates[l] {
                    found.used[p as usize] = true;
                }
            }
        }
        true
    }

    /// Every candidate, as the provider chosen at each level.
    fn generate(&self, options: &Options) -> Found {
        let width = self.levels.len();
        let limit = self.req.limit.filter(|&l| l > 0);
        // Upstream checks its cap after adding, so it always keeps one.
        let cap = options.max_candidates.map_or(usize::MAX, |c| c.max(1));
        // Stopping at `limit` equals truncating afterwards because the order
        // is the generation order; not so for a random sample, nor below 1.29
        // where summaries depend on every candidate.
        let stop_at = match limit {
            Some(l) if !self.req.randomize && !self.exclude_nested => l.min(cap),
            _ => cap,
        };
        let mut found = Found {
            records: Vec::new(),
            count: 0,
            seen: HashSet::new(),
            used: if self.exclude_nested { vec![false; self.snap.providers.len()] } else { Vec::new() },
        };
        let mut shared = Vec::new();
        match options.strategy {
            Strategy::DepthFirst => {
                let mut lists = Lists::default();
                let mut dfs = Dfs::new(width);
                'anchors: for a in self.anchors() {
                    if !self.build(a, &mut lists, &mut shared) {
                        continue;
                    }
                    dfs.reset();
                    while dfs.next(self, &lists) {
                        if self.collect(&dfs.chosen, &mut found) && found.count >= stop_at {
                            break 'anchors;
                        }
                    }
                }
            }
            Strategy::BreadthFirst => {
                let mut walks = Vec::new();
                for a in self.anchors() {
                    let mut lists = Lists::default();
                    if self.build(a, &mut lists, &mut shared) {
                        walks.push((lists, Dfs::new(width)));
                    }
                }
                'rounds: while !walks.is_empty() {
                    for (lists, dfs) in walks.iter_mut() {
                        if dfs.next(self, lists) && self.collect(&dfs.chosen, &mut found) && found.count >= stop_at {
                            break 'rounds;
                        }
                    }
                    walks.retain(|(_, dfs)| dfs.state != DfsState::Done);
                }
            }
        }
        found
    }

    fn finish(&self, found: Found, limit: Option<usize>) -> Candidates {
        let width = self.levels.len();
        let mut order: Vec<usize> = (0..found.count).collect();
        if self.req.randomize {
            let mut rng = rand::thread_rng();
            match limit {
                Some(l) if l < order.len() => order = order.partial_shuffle(&mut rng, l).0.to_vec(),
                _ => order.shuffle(&mut rng),
            }
        } else if let Some(l) = limit {
            order.truncate(l);
        }
        let providers = &self.snap.providers;
        let mut tree_used = vec![false; providers.len()];
        let allocation_requests = order
            .iter()
            .map(|&i| {
                let chosen = &found.records[i * width..(i + 1) * width];
                for (l, &p) in chosen.iter().enumerate() {
                    if self.allocates[l] {
                        tree_used[providers[p as usize].root] = true;
                    }
                }
                self.materialize(chosen)
            })
            .collect();
        // Summaries cover whole trees of allocated providers, except below
        // 1.29 where only allocated providers are described.
        let summaries = (0..providers.len())
            .filter(|&i| tree_used[providers[i].root] && (!self.exclude_nested || found.used[i]))
            .collect();
        Candidates { allocation_requests, summaries }
    }

    fn materialize(&self, chosen: &[u32]) -> AllocationRequest {
        let mut allocations: BTreeMap<usize, BTreeMap<i64, i64>> = BTreeMap::new();
        let mut mappings = BTreeMap::new();
        for (g, group) in self.req.groups.iter().enumerate() {
            let range = self.group_levels[g].clone();
            for l in range.clone() {
                let p = chosen[l] as usize;
                match self.levels[l] {
                    Level::Rc { rc, amount } => *allocations.entry(p).or_default().entry(rc).or_default() += amount,
                    Level::Group(_) => {
                        for &(rc, amount) in &group.resources {
                            *allocations.entry(p).or_default().entry(rc).or_default() += amount;
                        }
                    }
                }
            }
            let mut providers: Vec<usize> = chosen[range].iter().map(|&p| p as usize).collect();
            providers.sort_unstable();
            providers.dedup();
            mappings.insert(group.suffix.clone(), providers);
        }
        AllocationRequest { allocations, mappings }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARES: &str = "MISC_SHARES_VIA_AGGREGATE";

    /// (provider, resource class, amount, suffixes mapped to the provider).
    type Mapped = (String, String, i64, Vec<String>);

    /// A snapshot under construction, with names for ids.
    struct Env {
        snap: Snapshot,
        rcs: Vec<String>,
        traits: Vec<String>,
    }

    impl Env {
        fn new() -> Self {
            let mut env = Env { snap: Snapshot::default(), rcs: Vec::new(), traits: Vec::new() };
            env.snap.shares_trait = Some(env.trait_id(SHARES));
            env
        }

        fn rc(&mut self, name: &str) -> i64 {
            match self.rcs.iter().position(|r| r == name) {
                Some(i) => i as i64,
                None => {
                    self.rcs.push(name.to_string());
                    self.rcs.len() as i64 - 1
                }
            }
        }

        fn trait_id(&mut self, name: &str) -> i64 {
            match self.traits.iter().position(|t| t == name) {
                Some(i) => i as i64,
                None => {
                    self.traits.push(name.to_string());
                    self.traits.len() as i64 - 1
                }
            }
        }

        fn idx(&self, name: &str) -> usize {
            self.snap.by_uuid[name]
        }

        fn rp(&mut self, name: &str, parent: Option<&str>, aggs: &[&str]) -> usize {
            let idx = self.snap.providers.len();
            let parent = parent.map(|p| self.idx(p));
            let root = parent.map_or(idx, |p| self.snap.providers[p].root);
            let mut aggregates: Vec<String> = aggs.iter().map(|a| a.to_string()).collect();
            aggregates.sort();
            self.snap.providers.push(Provider {
                id: idx as i64 + 1,
                uuid: name.to_string(),
                name: name.to_string(),
                generation: 0,
                parent,
                root,
                inventories: Vec::new(),
                traits: Vec::new(),
                aggregates,
            });
            self.snap.by_uuid.insert(name.to_string(), idx);
            idx
        }

        fn inv(&mut self, rp: &str, rc: &str, total: i64) {
            self.inv_with(rp, rc, total, |_| {});
        }

        fn inv_with(&mut self, rp: &str, rc: &str, total: i64, tweak: impl FnOnce(&mut Inventory)) {
            let mut inv = Inventory {
                resource_class: self.rc(rc),
                total,
                reserved: 0,
                min_unit: 1,
                max_unit: total,
                step_size: 1,
                allocation_ratio: 1.0,
                used: 0,
            };
            tweak(&mut inv);
            let i = self.idx(rp);
            let invs = &mut self.snap.providers[i].inventories;
            invs.push(inv);
            invs.sort_by_key(|inv| inv.resource_class);
        }

        fn set_used(&mut self, rp: &str, rc: &str, used: i64) {
            let rc = self.rc(rc);
            let i = self.idx(rp);
            self.snap.providers[i].inventories.iter_mut().find(|inv| inv.resource_class == rc).unwrap().used = used;
        }

        fn set_traits(&mut self, rp: &str, traits: &[&str]) {
            let mut ids: Vec<i64> = traits.iter().map(|t| self.trait_id(t)).collect();
            ids.sort_unstable();
            let i = self.idx(rp);
            self.snap.providers[i].traits = ids;
        }

        fn traits_of(&mut self, list: &str) -> (Vec<Vec<i64>>, Vec<i64>) {
            if let Some(any) = list.strip_prefix("in:") {
                return (vec![any.split(',').map(|t| self.trait_id(t)).collect()], Vec::new());
            }
            let mut required = Vec::new();
            let mut forbidden = Vec::new();
            for t in list.split(',') {
                match t.strip_prefix('!') {
                    Some(t) => forbidden.push(self.trait_id(t)),
                    None => required.push(vec![self.trait_id(t)]),
                }
            }
            (required, forbidden)
        }

        /// Parses an allocation_candidates query string, as the API layer
        /// would (with provider and aggregate names as uuids). `version=1.28`
        /// turns nesting off and `randomize=true` sets `randomize`.
        fn q(&mut self, query: &str) -> CandidateRequest {
            let mut groups: BTreeMap<String, RequestGroup> = BTreeMap::new();
            let mut req = CandidateRequest { nested: true, ..Default::default() };
            for pair in query.split('&') {
                let (key, value) = pair.split_once('=').unwrap();
                match key {
                    "group_policy" => {
                        req.group_policy =
                            Some(if value == "isolate" { GroupPolicy::Isolate } else { GroupPolicy::None });
                    }
                    "limit" => req.limit = Some(value.parse().unwrap()),
                    "randomize" => req.randomize = value == "true",
                    "version" => req.nested = value != "1.28",
                    "same_subtree" => req.same_subtree.push(value.split(',').map(String::from).collect()),
                    "root_required" => {
                        let (required, forbidden) = self.traits_of(value);
                        req.root_required = required;
                        req.root_forbidden = forbidden;
                    }
                    _ => {
                        let prefix = ["resources", "required", "member_of", "in_tree"]
                            .into_iter()
                            .find(|p| key.starts_with(p))
                            .unwrap();
                        let suffix = &key[prefix.len()..];
                        let mut group = groups.remove(suffix).unwrap_or_default();
                        group.suffix = suffix.to_string();
                        match prefix {
                            "resources" => {
                                for item in value.split(',') {
                                    let (rc, amount) = item.split_once(':').unwrap();
                                    let rc = self.rc(rc);
                                    group.resources.push((rc, amount.parse().unwrap()));
                                }
                            }
                            "required" => {
                                let (required, forbidden) = self.traits_of(value);
                                group.required_traits.extend(required);
                                group.forbidden_traits.extend(forbidden);
                            }
                            "member_of" => {
                                let (negative, list) = match value.strip_prefix('!') {
                                    Some(rest) => (true, rest),
                                    None => (false, value),
                                };
                                let list = list.strip_prefix("in:").unwrap_or(list);
                                let aggs = list.split(',').map(String::from);
                                if negative {
                                    group.forbidden_aggregates.extend(aggs);
                                } else {
                                    group.member_of.push(aggs.collect());
                                }
                            }
                            _ => group.in_tree = Some(self.idx(value)),
                        }
                        groups.insert(suffix.to_string(), group);
                    }
                }
            }
            req.groups = groups.into_values().collect();
            req
        }

        fn run(&mut self, query: &str) -> Candidates {
            let req = self.q(query);
            compute(&self.snap, &req)
        }

        fn got(&mut self, query: &str) -> Vec<Vec<(String, String, i64)>> {
            let c = self.run(query);
            self.allocs(&c)
        }

        fn name(&self, p: usize) -> String {
            self.snap.providers[p].name.clone()
        }

        /// Each request as sorted (provider, class, amount) triples, sorted.
        fn allocs(&self, c: &Candidates) -> Vec<Vec<(String, String, i64)>> {
            let mut out: Vec<_> = c
                .allocation_requests
                .iter()
                .map(|ar| {
                    let mut rows: Vec<_> = ar
                        .allocations
                        .iter()
                        .flat_map(|(&p, res)| {
                            res.iter().map(move |(&rc, &amount)| (self.name(p), self.rcs[rc as usize].clone(), amount))
                        })
                        .collect();
                    rows.sort();
                    rows
                })
                .collect();
            out.sort();
            out
        }

        /// Each request as sorted (provider, class, amount, suffixes) rows.
        fn allocs_mapped(&self, c: &Candidates) -> Vec<Vec<Mapped>> {
            let mut out: Vec<_> = c
                .allocation_requests
                .iter()
                .map(|ar| {
                    let mut rows = Vec::new();
                    for (&p, res) in &ar.allocations {
                        let mut suffixes: Vec<String> =
                            ar.mappings.iter().filter(|(_, ps)| ps.contains(&p)).map(|(s, _)| s.clone()).collect();
                        suffixes.sort();
                        for (&rc, &amount) in res {
                            rows.push((self.name(p), self.rcs[rc as usize].clone(), amount, suffixes.clone()));
                        }
                    }
                    rows.sort();
                    rows
                })
                .collect();
            out.sort();
            out
        }

        fn summary(&self, c: &Candidates) -> Vec<String> {
            let mut names: Vec<String> = c.summaries.iter().map(|&p| self.name(p)).collect();
            names.sort();
            names
        }

        /// Amounts of one class on one provider across all requests, sorted.
        fn amounts(&self, c: &Candidates, rp: &str, rc: &str) -> Vec<i64> {
            let p = self.idx(rp);
            let rc = self.rcs.iter().position(|r| r == rc).unwrap() as i64;
            let mut v: Vec<i64> = c
                .allocation_requests
                .iter()
                .filter_map(|ar| ar.allocations.get(&p).and_then(|res| res.get(&rc)).copied())
                .collect();
            v.sort_unstable();
            v
        }

        fn mapping(&self, ar: &AllocationRequest, suffix: &str) -> Vec<String> {
            ar.mappings[suffix].iter().map(|&p| self.name(p)).collect()
        }
    }

    fn rows(list: &[&[(&str, &str, i64)]]) -> Vec<Vec<(String, String, i64)>> {
        let mut out: Vec<Vec<(String, String, i64)>> = list
            .iter()
            .map(|r| {
                let mut v: Vec<_> = r.iter().map(|&(p, rc, a)| (p.to_string(), rc.to_string(), a)).collect();
                v.sort();
                v
            })
            .collect();
        out.sort();
        out
    }

    fn names(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    // ---- fixtures (upstream placement/tests/functional/fixtures/gabbits.py)

    /// cn1 (no disk) and cn2 (disk), each with numa -> pf children, sharing
    /// storage ss and ss2, all in one aggregate.
    fn shared_storage() -> Env {
        let mut env = Env::new();
        for name in ["cn1", "cn2", "ss", "ss2"] {
            env.rp(name, None, &["agg"]);
        }
        for (numa, cn, pf) in [
            ("numa1_1", "cn1", "pf1_1"),
            ("numa1_2", "cn1", "pf1_2"),
            ("numa2_1", "cn2", "pf2_1"),
            ("numa2_2", "cn2", "pf2_2"),
        ] {
            env.rp(numa, Some(cn), &[]);
            env.rp(pf, Some(numa), &[]);
            env.inv(pf, "SRIOV_NET_VF", 8);
        }
        for cn in ["cn1", "cn2"] {
            env.inv_with(cn, "VCPU", 24, |i| i.allocation_ratio = 16.0);
            env.inv_with(cn, "MEMORY_MB", 128 * 1024, |i| i.allocation_ratio = 1.5);
        }
        env.set_traits("cn1", &["HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"]);
        env.inv_with("cn2", "DISK_GB", 2000, |i| i.reserved = 100);
        for ss in ["ss", "ss2"] {
            env.inv_with(ss, "DISK_GB", 2000, |i| i.reserved = 100);
            env.set_traits(ss, &[SHARES]);
        }
        env
    }

    fn granular() -> Env {
        let mut env = Env::new();
        env.rp("cn_left", None, &["aggA"]);
        for (rc, total) in [
            ("VCPU", 8),
            ("MEMORY_MB", 4096),
            ("DISK_GB", 500),
            ("VGPU", 8),
            ("SRIOV_NET_VF", 8),
            ("CUSTOM_NET_MBPS", 4000),
        ] {
            env.inv("cn_left", rc, total);
        }
        env.set_traits(
            "cn_left",
            &["HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_GPU_API_DXVA", "HW_NIC_DCB_PFC", "CUSTOM_FOO"],
        );
        env.rp("cn_middle", None, &["aggA", "aggB"]);
        for (rc, total) in [("VCPU", 8), ("MEMORY_MB", 4096), ("SRIOV_NET_VF", 8), ("CUSTOM_NET_MBPS", 4000)] {
            env.inv("cn_middle", rc, total);
        }
        env.set_traits("cn_middle", &["HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_NIC_ACCEL_TLS"]);
        env.rp("cn_right", None, &["aggB", "aggC"]);
        for (rc, total) in [("VCPU", 8), ("MEMORY_MB", 4096), ("DISK_GB", 500)] {
            env.inv("cn_right", rc, total);
        }
        env.inv_with("cn_right", "VGPU", 8, |i| i.max_unit = 2);
        env.set_traits("cn_right", &["HW_CPU_X86_MMX", "HW_GPU_API_DXVA", "CUSTOM_DISK_SSD"]);
        env.rp("shr_disk_1", None, &["aggA"]);
        env.inv("shr_disk_1", "DISK_GB", 1000);
        env.set_traits("shr_disk_1", &[SHARES, "CUSTOM_DISK_SSD"]);
        env.rp("shr_disk_2", None, &["aggA", "aggB"]);
        env.inv("shr_disk_2", "DISK_GB", 1000);
        env.set_traits("shr_disk_2", &[SHARES]);
        env.rp("shr_net", None, &["aggC"]);
        env.inv("shr_net", "SRIOV_NET_VF", 16);
        env.inv("shr_net", "CUSTOM_NET_MBPS", 40000);
        env.set_traits("shr_net", &[SHARES]);
        env
    }

    fn numa_network() -> Env {
        let mut env = Env::new();
        env.rp("ss1", None, &["aggA"]);
        env.set_traits("ss1", &[SHARES]);
        env.inv("ss1", "DISK_GB", 2000);
        env.rp("cn1", None, &["aggA"]);
        env.set_traits("cn1", &["COMPUTE_VOLUME_MULTI_ATTACH"]);
        for i in 0..2 {
            let numa = format!("numa{i}");
            env.rp(&numa, Some("cn1"), &[]);
            env.set_traits(&numa, if i == 1 { &["HW_NUMA_ROOT", "CUSTOM_FOO"] } else { &["HW_NUMA_ROOT"] });
            env.inv(&numa, "VCPU", 4);
        }
        env.inv_with("numa0", "MEMORY_MB", 2048, |i| {
            i.min_unit = 512;
            i.step_size = 256;
        });
        env.inv_with("numa1", "MEMORY_MB", 2048, |i| {
            i.min_unit = 256;
            i.max_unit = 1024;
        });
        env.set_used("numa0", "VCPU", 2);
        env.rp("fpga0", Some("numa0"), &[]);
        env.inv("fpga0", "FPGA", 1);
        env.rp("pgpu0", Some("numa0"), &[]);
        env.inv("pgpu0", "VGPU", 8);
        for i in 0..2 {
            let fpga = format!("fpga1_{i}");
            env.rp(&fpga, Some("numa1"), &[]);
            env.inv(&fpga, "FPGA", 1);
        }
        env.rp("sriov_agent", Some("cn1"), &[]);
        env.set_traits("sriov_agent", &["CUSTOM_VNIC_TYPE_DIRECT"]);
        for i in 1..3 {
            let esn = format!("esn{i}");
            env.rp(&esn, Some("sriov_agent"), &[]);
            env.set_traits(&esn, &[&format!("CUSTOM_PHYSNET{i}")]);
            env.inv(&esn, "NET_BW_EGR_KILOBIT_PER_SEC", 10000 * i);
        }
        env.rp("ovs_agent", Some("cn1"), &[]);
        env.set_traits("ovs_agent", &["CUSTOM_VNIC_TYPE_NORMAL"]);
        env.rp("br_int", Some("ovs_agent"), &[]);
        env.set_traits("br_int", &["CUSTOM_PHYSNET0"]);
        env.inv("br_int", "NET_BW_EGR_KILOBIT_PER_SEC", 1000);
        env.rp("cn2", None, &["aggA"]);
        env.inv("cn2", "VCPU", 8);
        env.set_used("cn2", "VCPU", 3);
        env.inv_with("cn2", "MEMORY_MB", 2048, |i| {
            i.min_unit = 1024;
            i.step_size = 128;
        });
        env.inv("cn2", "DISK_GB", 1000);
        env.set_traits("cn2", &["CUSTOM_FOO"]);
        for i in 1..4 {
            let nic = format!("nic{i}");
            env.rp(&nic, Some("cn2"), &[]);
            env.set_traits(&nic, &["CUSTOM_HW_NIC_ROOT"]);
        }
        let pfs = [
            ("pf1_1", "nic1", 1, 4),
            ("pf1_2", "nic1", 2, 4),
            ("pf2_1", "nic2", 1, 2),
            ("pf2_2", "nic2", 2, 2),
            ("pf2_3", "nic2", 1, 2),
            ("pf2_4", "nic2", 2, 2),
            ("pf3_1", "nic3", 1, 8),
        ];
        for (pf, nic, net, vfs) in pfs {
            env.rp(pf, Some(nic), &[]);
            env.set_traits(pf, &[&format!("CUSTOM_PHYSNET{net}")]);
            env.inv(pf, "CUSTOM_VF", vfs);
        }
        env
    }

    fn numa_aggregate() -> Env {
        let mut env = Env::new();
        env.rp("cn1", None, &["aggA"]);
        env.rp("cn2", None, &["aggA", "aggB"]);
        env.rp("ss1", None, &["aggA"]);
        env.rp("ss2", None, &["aggC"]);
        env.rp("numa1_1", Some("cn1"), &["aggC"]);
        env.rp("numa1_2", Some("cn1"), &[]);
        env.rp("numa2_1", Some("cn2"), &[]);
        env.rp("numa2_2", Some("cn2"), &[]);
        for numa in ["numa1_1", "numa1_2", "numa2_1", "numa2_2"] {
            env.inv_with(numa, "VCPU", 24, |i| i.allocation_ratio = 16.0);
        }
        for ss in ["ss1", "ss2"] {
            env.inv_with(ss, "DISK_GB", 2000, |i| i.reserved = 100);
            env.set_traits(ss, &[SHARES]);
        }
        env
    }

    /// Two compute nodes, each with two numa children holding one pf each.
    fn nested_trees() -> Env {
        let mut env = Env::new();
        for (cn, agg) in [("cn1", "agg1"), ("cn2", "agg2")] {
            env.rp(cn, None, &[agg]);
            env.inv(cn, "VCPU", 16);
            for i in 0..2 {
                let numa = format!("{cn}_numa{i}");
                let pf = format!("{cn}_numa{i}_pf{i}");
                env.rp(&numa, Some(cn), &[]);
                env.rp(&pf, Some(&numa), &[]);
                env.inv(&pf, "SRIOV_NET_VF", 8);
            }
        }
        env
    }

    // ---- upstream db/test_allocation_candidates.py

    const DEFAULT: &str = "resources=VCPU:1,MEMORY_MB:64,DISK_GB:1500";

    #[test]
    fn single_provider_and_summary() {
        let mut env = Env::new();
        env.rp("cn1", None, &[]);
        env.inv("cn1", "VCPU", 8);
        env.inv("cn1", "MEMORY_MB", 2048);
        env.inv("cn1", "DISK_GB", 2000);
        let c = env.run("resources=VCPU:1");
        assert_eq!(env.allocs(&c), rows(&[&[("cn1", "VCPU", 1)]]));
        assert_eq!(env.mapping(&c.allocation_requests[0], ""), ["cn1"]);
        assert_eq!(env.summary(&c), ["cn1"]);
    }

    fn all_local() -> Env {
        let mut env = Env::new();
        for cn in ["cn1", "cn2", "cn3"] {
            env.rp(cn, None, &[]);
            env.inv_with(cn, "VCPU", 24, |i| i.allocation_ratio = 16.0);
            env.inv_with(cn, "MEMORY_MB", 32768, |i| {
                i.min_unit = 64;
                i.step_size = 64;
                i.allocation_ratio = 1.5;
            });
            let total = if cn == "cn3" { 1000 } else { 2000 };
            env.inv_with(cn, "DISK_GB", total, |i| {
                i.reserved = 100;
                i.min_unit = 10;
                i.step_size = 10;
            });
        }
        env
    }

    fn local(cn: &str) -> [(&str, &'static str, i64); 3] {
        [(cn, "VCPU", 1), (cn, "MEMORY_MB", 64), (cn, "DISK_GB", 1500)]
    }

    #[test]
    fn all_local_with_traits() {
        let mut env = all_local();
        let c = env.run(DEFAULT);
        assert_eq!(env.allocs(&c), rows(&[&local("cn1"), &local("cn2")]));
        assert_eq!(env.summary(&c), ["cn1", "cn2"]);

        let avx2 = format!("{DEFAULT}&required=HW_CPU_X86_AVX2");
        assert!(env.run(&avx2).allocation_requests.is_empty());
        env.set_traits("cn2", &["HW_CPU_X86_AVX2"]);
        let c = env.run(&avx2);
        assert_eq!(env.allocs(&c), rows(&[&local("cn2")]));
        assert_eq!(env.summary(&c), ["cn2"]);

        let c = env.run(&format!("{DEFAULT}&required=!HW_CPU_X86_AVX2"));
        assert_eq!(env.allocs(&c), rows(&[&local("cn1")]));

        // AVX2 and (SSE or SSE2)
        let complex = format!("{DEFAULT}&required=HW_CPU_X86_AVX2&required=in:HW_CPU_X86_SSE,HW_CPU_X86_SSE2");
        assert!(env.run(&complex).allocation_requests.is_empty());
        env.set_traits("cn1", &["HW_CPU_X86_SSE"]);
        assert!(env.run(&complex).allocation_requests.is_empty());
        env.set_traits("cn2", &["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE2"]);
        assert_eq!(env.got(&complex), rows(&[&local("cn2")]));
        assert!(env.run(&format!("{complex}&required=!HW_CPU_X86_SSE2")).allocation_requests.is_empty());
        let c = env.run(&format!("{complex}&required=!HW_CPU_X86_SSE"));
        assert_eq!(env.allocs(&c), rows(&[&local("cn2")]));
        assert_eq!(env.summary(&c), ["cn2"]);
    }

    #[test]
    fn all_local_limit() {
        let mut env = all_local();
        let c = env.run(&format!("{DEFAULT}&limit=1"));
        assert_eq!(c.allocation_requests.len(), 1);
        assert_eq!(c.summaries.len(), 1);
        let c = env.run(&format!("{DEFAULT}&limit=2&randomize=true"));
        assert_eq!(c.allocation_requests.len(), 2);
        assert_eq!(c.summaries.len(), 2);
        let c = env.run(&format!("{DEFAULT}&limit=5&randomize=true"));
        assert_eq!(c.allocation_requests.len(), 2);
        assert_eq!(c.summaries.len(), 2);
        let c = env.run(&format!("{DEFAULT}&limit=1&randomize=true"));
        assert_eq!(c.allocation_requests.len(), 1);
        let cn = env.idx(if c.allocation_requests[0].allocations.contains_key(&0) { "cn1" } else { "cn2" });
        assert_eq!(c.summaries, [cn]);
    }

    fn local_with_shared_disk() -> Env {
        let mut env = Env::new();
        for cn in ["cn1", "cn2"] {
            env.rp(cn, None, &["agg"]);
            env.inv_with(cn, "VCPU", 24, |i| i.allocation_ratio = 16.0);
            env.inv_with(cn, "MEMORY_MB", 1024, |i| {
                i.min_unit = 64;
                i.allocation_ratio = 1.5;
            });
        }
        env.rp("shared storage", None, &["agg"]);
        env.inv_with("shared storage", "DISK_GB", 2000, |i| {
            i.reserved = 100;
            i.min_unit = 10;
        });
        env.set_traits("shared storage", &[SHARES]);
        env
    }

    fn with_shared(cn: &str) -> [(&str, &'static str, i64); 3] {
        [(cn, "VCPU", 1), (cn, "MEMORY_MB", 64), ("shared storage", "DISK_GB", 1500)]
    }

    #[test]
    fn local_with_shared_disk_and_traits() {
        let mut env = local_with_shared_disk();
        let c = env.run(DEFAULT);
        assert_eq!(env.allocs(&c), rows(&[&with_shared("cn1"), &with_shared("cn2")]));
        assert_eq!(env.summary(&c), names(&["cn1", "cn2", "shared storage"]));

        // Only the sharing provider is described when only it is allocated from.
        let c = env.run("resources=DISK_GB:10");
        assert_eq!(env.allocs(&c), rows(&[&[("shared storage", "DISK_GB", 10)]]));
        assert_eq!(env.summary(&c), ["shared storage"]);

        let avx2 = format!("{DEFAULT}&required=HW_CPU_X86_AVX2");
        let c = env.run(&avx2);
        assert!(c.allocation_requests.is_empty() && c.summaries.is_empty());
        env.set_traits("cn1", &["HW_CPU_X86_AVX2"]);
        env.set_traits("cn2", &["HW_CPU_X86_AVX2"]);
        let c = env.run(&avx2);
        assert_eq!(env.allocs(&c), rows(&[&with_shared("cn1"), &with_shared("cn2")]));
        assert_eq!(env.summary(&c), names(&["cn1", "cn2", "shared storage"]));
        assert!(env.run(&format!("{DEFAULT}&required=!HW_CPU_X86_AVX2")).allocation_requests.is_empty());

        env.set_traits("cn2", &["HW_CPU_X86_AVX2", "CUSTOM_EXTRA_FASTER"]);
        let c = env.run(&format!("{avx2}&required=!CUSTOM_EXTRA_FASTER"));
        assert_eq!(env.allocs(&c), rows(&[&with_shared("cn1")]));

        env.inv_with("cn1", "DISK_GB", 2048, |i| i.allocation_ratio = 1.5);
        let c = env.run(&format!("{avx2}&required=!{SHARES}"));
        assert_eq!(env.allocs(&c), rows(&[&local("cn1")]));

        // (AVX2 and (SSE or SSE2)), traits collected over the providers used.
        let complex = format!("{DEFAULT}&required=HW_CPU_X86_AVX2&required=in:HW_CPU_X86_SSE,HW_CPU_X86_SSE2");
        let c = env.run(&complex);
        assert!(c.allocation_requests.is_empty() && c.summaries.is_empty());
        env.set_traits("shared storage", &[SHARES, "HW_CPU_X86_SSE"]);
        let c = env.run(&complex);
        assert_eq!(env.allocs(&c), rows(&[&with_shared("cn1"), &with_shared("cn2")]));
        env.set_traits("cn1", &["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE2"]);
        let c = env.run(&complex);
        assert_eq!(env.allocs(&c), rows(&[&with_shared("cn1"), &local("cn1"), &with_shared("cn2")]));
        let c = env.run(&format!("{complex}&required=!CUSTOM_EXTRA_FASTER"));
        assert_eq!(env.allocs(&c), rows(&[&with_shared("cn1"), &local("cn1")]));
    }

    #[test]
    fn mix_local_and_shared() {
        let mut env = local_with_shared_disk();
        env.rp("cn3", None, &[]);
        env.inv_with("cn3", "VCPU", 24, |i| i.allocation_ratio = 16.0);
        env.inv_with("cn3", "MEMORY_MB", 1024, |i| {
            i.min_unit = 64;
            i.allocation_ratio = 1.5;
        });
        env.inv_with("cn3", "DISK_GB", 2000, |i| {
            i.reserved = 100;
            i.min_unit = 10;
        });
        let c = env.run(DEFAULT);
        assert_eq!(env.allocs(&c), rows(&[&with_shared("cn1"), &with_shared("cn2"), &local("cn3")]));
        assert_eq!(env.summary(&c), names(&["cn1", "cn2", "cn3", "shared storage"]));

        for cn in ["cn1", "cn2"] {
            env.set_traits(cn, &["HW_CPU_X86_AVX2"]);
        }
        env.set_traits("cn3", &["HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"]);
        let c = env.run(&format!("{DEFAULT}&required=HW_CPU_X86_AVX2,STORAGE_DISK_SSD"));
        assert_eq!(env.allocs(&c), rows(&[&local("cn3")]));
        assert_eq!(env.summary(&c), ["cn3"]);

        let any = format!("{DEFAULT}&required=HW_CPU_X86_AVX2&required=in:STORAGE_DISK_SSD,HW_CPU_X86_SSE");
        let any = format!("{any}&required=!HW_CPU_X86_SSE2");
        assert_eq!(env.got(&any), rows(&[&local("cn3")]));
        env.set_traits("cn1", &["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE"]);
        env.set_traits("cn2", &["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"]);
        assert_eq!(env.got(&any), rows(&[&with_shared("cn1"), &local("cn3")]));
    }

    #[test]
    fn common_rc_between_local_and_shared() {
        let mut env = Env::new();
        env.rp("cn", None, &["agg1"]);
        env.inv("cn", "VCPU", 24);
        env.inv("cn", "MEMORY_MB", 2048);
        env.inv("cn", "DISK_GB", 1600);
        env.rp("ss", None, &["agg1"]);
        env.set_traits("ss", &[SHARES]);
        env.inv("ss", "DISK_GB", 2000);
        let c = env.run(DEFAULT);
        let on_ss = [("cn", "VCPU", 1), ("cn", "MEMORY_MB", 64), ("ss", "DISK_GB", 1500)];
        assert_eq!(env.allocs(&c), rows(&[&local("cn"), &on_ss]));
        assert_eq!(env.summary(&c), ["cn", "ss"]);
        let c = env.run("resources=VCPU:1,MEMORY_MB:64,DISK_GB:1800");
        assert_eq!(env.allocs(&c), rows(&[&[("cn", "VCPU", 1), ("cn", "MEMORY_MB", 64), ("ss", "DISK_GB", 1800)]]));

        // Bug #1724633 upstream: traits are collected over providers, not per class.
        env.set_traits("cn", &["HW_CPU_X86_SSE", "STORAGE_DISK_SSD"]);
        env.set_traits("ss", &[SHARES, "CUSTOM_RAID"]);
        let c = env.run(&format!("{DEFAULT}&required=HW_CPU_X86_SSE,STORAGE_DISK_SSD,CUSTOM_RAID"));
        assert_eq!(env.allocs(&c), rows(&[&on_ss]));
    }

    #[test]
    fn only_sharing_providers() {
        let mut env = Env::new();
        env.rp("ss1", None, &["agg1"]);
        env.set_traits("ss1", &[SHARES]);
        env.inv("ss1", "IPV4_ADDRESS", 24);
        env.inv("ss1", "SRIOV_NET_VF", 16);
        env.inv("ss1", "DISK_GB", 1600);
        let q = "resources=IPV4_ADDRESS:2,SRIOV_NET_VF:1,DISK_GB:1500";
        let c = env.run(q);
        let all_ss1 = [("ss1", "IPV4_ADDRESS", 2), ("ss1", "SRIOV_NET_VF", 1), ("ss1", "DISK_GB", 1500)];
        assert_eq!(env.allocs(&c), rows(&[&all_ss1]));
        assert_eq!(env.summary(&c), ["ss1"]);

        env.rp("ss2", None, &["agg1"]);
        env.set_traits("ss2", &[SHARES]);
        env.inv("ss2", "SRIOV_NET_VF", 16);
        env.inv("ss2", "DISK_GB", 1600);
        // Each combination once, although both providers anchor it.
        let c = env.run(q);
        assert_eq!(
            env.allocs(&c),
            rows(&[
                &all_ss1,
                &[("ss1", "IPV4_ADDRESS", 2), ("ss1", "SRIOV_NET_VF", 1), ("ss2", "DISK_GB", 1500)],
                &[("ss1", "IPV4_ADDRESS", 2), ("ss2", "SRIOV_NET_VF", 1), ("ss1", "DISK_GB", 1500)],
                &[("ss1", "IPV4_ADDRESS", 2), ("ss2", "SRIOV_NET_VF", 1), ("ss2", "DISK_GB", 1500)],
            ])
        );
        assert_eq!(env.summary(&c), ["ss1", "ss2"]);
    }

    #[test]
    fn sharing_providers_no_rc_overlap() {
        let mut env = Env::new();
        env.rp("ss1", None, &["agg1"]);
        env.set_traits("ss1", &[SHARES]);
        env.inv("ss1", "IPV4_ADDRESS", 24);
        env.inv("ss1", "SRIOV_NET_VF", 16);
        env.rp("ss2", None, &["agg1"]);
        env.set_traits("ss2", &[SHARES]);
        env.inv("ss2", "DISK_GB", 1600);
        let c = env.run("resources=IPV4_ADDRESS:2,DISK_GB:1500");
        assert_eq!(env.allocs(&c), rows(&[&[("ss1", "IPV4_ADDRESS", 2), ("ss2", "DISK_GB", 1500)]]));
        let c = env.run("resources=IPV4_ADDRESS:2,SRIOV_NET_VF:1,DISK_GB:1500");
        assert_eq!(
            env.allocs(&c),
            rows(&[&[("ss1", "IPV4_ADDRESS", 2), ("ss1", "SRIOV_NET_VF", 1), ("ss2", "DISK_GB", 1500)]])
        );
        assert_eq!(env.summary(&c), ["ss1", "ss2"]);
    }

    #[test]
    fn sharing_over_different_aggregates() {
        let mut env = Env::new();
        env.rp("cn1", None, &["agg1", "agg3"]);
        env.rp("cn2", None, &["agg1", "agg2"]);
        for cn in ["cn1", "cn2"] {
            env.inv(cn, "VCPU", 24);
            env.inv(cn, "MEMORY_MB", 2048);
        }
        for (ss, agg, rc) in
            [("ss1", "agg1", "DISK_GB"), ("ss2", "agg2", "IPV4_ADDRESS"), ("ss3", "agg3", "IPV4_ADDRESS")]
        {
            env.rp(ss, None, &[agg]);
            env.set_traits(ss, &[SHARES]);
            env.inv(ss, rc, if rc == "DISK_GB" { 1600 } else { 24 });
        }
        let c = env.run("resources=VCPU:2,DISK_GB:1500");
        assert_eq!(
            env.allocs(&c),
            rows(&[&[("cn1", "VCPU", 2), ("ss1", "DISK_GB", 1500)], &[("cn2", "VCPU", 2), ("ss1", "DISK_GB", 1500)]])
        );
        assert_eq!(env.summary(&c), ["cn1", "cn2", "ss1"]);
        let c = env.run("resources=VCPU:2,DISK_GB:1500,IPV4_ADDRESS:2");
        assert_eq!(
            env.allocs(&c),
            rows(&[
                &[("cn1", "VCPU", 2), ("ss1", "DISK_GB", 1500), ("ss3", "IPV4_ADDRESS", 2)],
                &[("cn2", "VCPU", 2), ("ss1", "DISK_GB", 1500), ("ss2", "IPV4_ADDRESS", 2)],
            ])
        );
        assert_eq!(env.summary(&c), ["cn1", "cn2", "ss1", "ss2", "ss3"]);
    }

    #[test]
    fn multiple_sharing_providers_with_same_rc() {
        let mut env = Env::new();
        env.rp("cn1", None, &["agg1"]);
        env.inv("cn1", "VCPU", 24);
        env.inv("cn1", "MEMORY_MB", 2048);
        env.rp("cn2", None, &["agg2"]);
        env.inv("cn2", "VCPU", 24);
        for (ss, agg, rc) in [
            ("ss1_1", "agg1", "DISK_GB"),
            ("ss1_2", "agg1", "DISK_GB"),
            ("ss2_1", "agg2", "MEMORY_MB"),
            ("ss2_2", "agg2", "DISK_GB"),
        ] {
            env.rp(ss, None, &[agg]);
            env.set_traits(ss, &[SHARES]);
            env.inv(ss, rc, 2000);
        }
        let c = env.run(DEFAULT);
        assert_eq!(
            env.allocs(&c),
            rows(&[
                &[("cn1", "VCPU", 1), ("cn1", "MEMORY_MB", 64), ("ss1_1", "DISK_GB", 1500)],
                &[("cn1", "VCPU", 1), ("cn1", "MEMORY_MB", 64), ("ss1_2", "DISK_GB", 1500)],
                &[("cn2", "VCPU", 1), ("ss2_1", "MEMORY_MB", 64), ("ss2_2", "DISK_GB", 1500)],
            ])
        );
        assert_eq!(env.summary(&c), ["cn1", "cn2", "ss1_1", "ss1_2", "ss2_1", "ss2_2"]);
    }

    #[test]
    fn sharing_providers_member_of() {
        let mut env = Env::new();
        env.rp("cn1", None, &["agg1", "agg2"]);
        env.rp("cn2", None, &["agg2", "agg3"]);
        for cn in ["cn1", "cn2"] {
            env.inv(cn, "VCPU", 24);
            env.inv(cn, "DISK_GB", 1600);
        }
        for (ss, agg) in [("ss1", "agg1"), ("ss2", "agg2"), ("ss3", "agg3")] {
            env.rp(ss, None, &[agg]);
            env.set_traits(ss, &[SHARES]);
            env.inv(ss, "DISK_GB", 1600);
        }
        let q = "resources=VCPU:2,DISK_GB:1500";
        let cand = |cn: &'static str, disk: &'static str| [(cn, "VCPU", 2), (disk, "DISK_GB", 1500)];
        let c = env.run(&format!("{q}&member_of=agg1"));
        assert_eq!(env.allocs(&c), rows(&[&cand("cn1", "cn1"), &cand("cn1", "ss1")]));
        assert_eq!(env.summary(&c), ["cn1", "ss1"]);
        let c = env.run(&format!("{q}&member_of=agg2"));
        assert_eq!(
            env.allocs(&c),
            rows(&[&cand("cn1", "cn1"), &cand("cn1", "ss2"), &cand("cn2", "cn2"), &cand("cn2", "ss2")])
        );
        assert_eq!(env.summary(&c), ["cn1", "cn2", "ss2"]);
        let c = env.run(&format!("{q}&member_of=agg1&member_of=agg2"));
        assert_eq!(env.allocs(&c), rows(&[&cand("cn1", "cn1")]));
        assert_eq!(env.summary(&c), ["cn1"]);
        let c = env.run(&format!("{q}&member_of=in:agg1,agg2"));
        assert_eq!(
            env.allocs(&c),
            rows(&[
                &cand("cn1", "cn1"),
                &cand("cn1", "ss1"),
                &cand("cn1", "ss2"),
                &cand("cn2", "cn2"),
                &cand("cn2", "ss2")
            ])
        );
        assert_eq!(env.summary(&c), ["cn1", "cn2", "ss1", "ss2"]);
    }

    #[test]
    fn sharing_providers_indirectly_connected() {
        let mut env = Env::new();
        env.rp("ss1", None, &["agg1"]);
        env.set_traits("ss1", &[SHARES]);
        env.inv("ss1", "DISK_GB", 1600);
        env.rp("cn1", None, &["agg1", "agg2"]);
        env.inv("cn1", "VCPU", 24);
        env.inv("cn1", "MEMORY_MB", 2048);
        env.rp("ss2", None, &["agg2"]);
        env.set_traits("ss2", &[SHARES]);
        env.inv("ss2", "IPV4_ADDRESS", 24);
        env.inv("ss2", "SRIOV_NET_VF", 16);
        let sharing = [("ss1", "DISK_GB", 1500), ("ss2", "IPV4_ADDRESS", 2), ("ss2", "SRIOV_NET_VF", 1)];
        let c = env.run("resources=IPV4_ADDRESS:2,SRIOV_NET_VF:1,DISK_GB:1500");
        assert_eq!(env.allocs(&c), rows(&[&sharing]));
        // cn1 anchors the candidate but gives nothing, so it is not described.
        assert_eq!(env.summary(&c), ["ss1", "ss2"]);
        let c = env.run("resources=VCPU:2,IPV4_ADDRESS:2,SRIOV_NET_VF:1,DISK_GB:1500");
        let mut with_cn = sharing.to_vec();
        with_cn.push(("cn1", "VCPU", 2));
        assert_eq!(env.allocs(&c), rows(&[&with_cn]));
        assert_eq!(env.summary(&c), ["cn1", "ss1", "ss2"]);
    }

    #[test]
    fn simple_tree_of_providers() {
        let mut env = Env::new();
        env.rp("cn", None, &[]);
        env.inv("cn", "VCPU", 16);
        env.inv("cn", "MEMORY_MB", 32768);
        env.rp("cn_numa0", Some("cn"), &[]);
        env.rp("cn_numa1", Some("cn"), &[]);
        env.rp("cn_numa0_pf0", Some("cn_numa0"), &[]);
        env.inv("cn_numa0_pf0", "SRIOV_NET_VF", 8);
        env.rp("cn_numa1_pf1", Some("cn_numa1"), &[]);
        env.inv("cn_numa1_pf1", "SRIOV_NET_VF", 8);
        env.set_traits("cn_numa1_pf1", &["HW_NIC_OFFLOAD_GENEVE"]);
        let tree = names(&["cn", "cn_numa0", "cn_numa1", "cn_numa0_pf0", "cn_numa1_pf1"]);
        let q = "resources=VCPU:2,MEMORY_MB:256,SRIOV_NET_VF:1";
        let with = |pf: &'static str| [("cn", "VCPU", 2), ("cn", "MEMORY_MB", 256), (pf, "SRIOV_NET_VF", 1)];
        let c = env.run(q);
        assert_eq!(env.allocs(&c), rows(&[&with("cn_numa0_pf0"), &with("cn_numa1_pf1")]));
        assert_eq!(env.summary(&c), tree);
        let geneve = format!("{q}&required=HW_NIC_OFFLOAD_GENEVE");
        let c = env.run(&geneve);
        assert_eq!(env.allocs(&c), rows(&[&with("cn_numa1_pf1")]));
        assert_eq!(env.summary(&c), tree);
        for q in ["resources=SRIOV_NET_VF:1", "resources1=SRIOV_NET_VF:1"] {
            let c = env.run(q);
            assert_eq!(
                env.allocs(&c),
                rows(&[&[("cn_numa0_pf0", "SRIOV_NET_VF", 1)], &[("cn_numa1_pf1", "SRIOV_NET_VF", 1)]])
            );
            assert_eq!(env.summary(&c), tree);
        }
        env.set_used("cn_numa1_pf1", "SRIOV_NET_VF", 8);
        let c = env.run(&geneve);
        assert!(c.allocation_requests.is_empty() && c.summaries.is_empty());
    }

    #[test]
    fn forbidden_trait_in_unsuffixed_group_on_nested_tree() {
        let mut env = Env::new();
        for cn in ["cn1", "cn2"] {
            env.rp(cn, None, &[]);
            env.inv(cn, "VCPU", 2);
            let child = format!("{cn}_c1");
            env.rp(&child, Some(cn), &[]);
            env.inv(&child, "SRIOV_NET_VF", 2);
        }
        env.set_traits("cn1_c1", &["CUSTOM_FOO"]);
        let c = env.run("resources=VCPU:1,SRIOV_NET_VF:1&required=!CUSTOM_FOO");
        assert_eq!(env.allocs(&c), rows(&[&[("cn2", "VCPU", 1), ("cn2_c1", "SRIOV_NET_VF", 1)]]));
        // Traits never span providers: the forbidden trait elsewhere in the tree is fine.
        let c = env.run("resources=VCPU:1&required=!CUSTOM_FOO");
        assert_eq!(env.allocs(&c), rows(&[&[("cn1", "VCPU", 1)], &[("cn2", "VCPU", 1)]]));
    }

    #[test]
    fn simple_tree_with_shared_provider() {
        let mut env = Env::new();
        for (cn, agg, ss, disk) in [("cn1", "agg1", "ss1", 2000), ("cn2", "agg2", "ss2", 1000)] {
            env.rp(cn, None, &[agg]);
            env.inv(cn, "VCPU", 16);
            for i in 0..2 {
                let numa = format!("{cn}_numa{i}");
                let pf = format!("{cn}_numa{i}_pf{i}");
                env.rp(&numa, Some(cn), &[]);
                env.rp(&pf, Some(&numa), &[]);
                env.inv(&pf, "SRIOV_NET_VF", 8);
            }
            env.set_traits(&format!("{cn}_numa1_pf1"), &["HW_NIC_OFFLOAD_GENEVE"]);
            env.rp(ss, None, &[agg]);
            env.inv(ss, "DISK_GB", disk);
            env.set_traits(ss, &[SHARES]);
        }
        let q = "resources=VCPU:2,SRIOV_NET_VF:1,DISK_GB:1500";
        let with = |pf: &'static str| [("cn1", "VCPU", 2), (pf, "SRIOV_NET_VF", 1), ("ss1", "DISK_GB", 1500)];
        let tree = names(&["cn1", "cn1_numa0", "cn1_numa1", "cn1_numa0_pf0", "cn1_numa1_pf1", "ss1"]);
        let c = env.run(q);
        assert_eq!(env.allocs(&c), rows(&[&with("cn1_numa0_pf0"), &with("cn1_numa1_pf1")]));
        assert_eq!(env.summary(&c), tree);
        let c = env.run(&format!("{q}&required=HW_NIC_OFFLOAD_GENEVE"));
        assert_eq!(env.allocs(&c), rows(&[&with("cn1_numa1_pf1")]));
        assert_eq!(env.summary(&c), tree);
    }

    #[test]
    fn nested_result_counts() {
        let mut env = nested_trees();
        let q = "resources=VCPU:2&resources_NET1=SRIOV_NET_VF:1&resources_NET2=SRIOV_NET_VF:1";
        assert_eq!(env.run(&format!("{q}&group_policy=none")).allocation_requests.len(), 8);
        let q2 = "resources=VCPU:2&resources_NET1=SRIOV_NET_VF:1&resources_NET2=SRIOV_NET_VF:2&group_policy=isolate";
        assert_eq!(env.run(q2).allocation_requests.len(), 4);
    }

    type MappedRow = (&'static str, &'static str, i64, &'static [&'static str]);

    fn mapped(list: &[&[MappedRow]]) -> Vec<Vec<Mapped>> {
        let mut out: Vec<Vec<_>> = list
            .iter()
            .map(|r| {
                let mut v: Vec<_> = r
                    .iter()
                    .map(|&(p, rc, a, s)| (p.to_string(), rc.to_string(), a, s.iter().map(|x| x.to_string()).collect()))
                    .collect();
                v.sort();
                v
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn nested_result_suffix_mappings() {
        let mut env = nested_trees();
        let q = "resources=VCPU:2&resources_NET1=SRIOV_NET_VF:1&resources_NET2=SRIOV_NET_VF:1";
        let split = |cn: &'static str, a: &'static [&'static str], b: &'static [&'static str]| -> Vec<MappedRow> {
            let (pf0, pf1) =
                if cn == "cn1" { ("cn1_numa0_pf0", "cn1_numa1_pf1") } else { ("cn2_numa0_pf0", "cn2_numa1_pf1") };
            vec![(cn, "VCPU", 2, &[""]), (pf0, "SRIOV_NET_VF", 1, a), (pf1, "SRIOV_NET_VF", 1, b)]
        };
        let n1: &[&str] = &["_NET1"];
        let n2: &[&str] = &["_NET2"];
        let isolated = [split("cn1", n1, n2), split("cn1", n2, n1), split("cn2", n1, n2), split("cn2", n2, n1)];
        let c = env.run(&format!("{q}&group_policy=isolate"));
        let refs: Vec<&[MappedRow]> = isolated.iter().map(|v| v.as_slice()).collect();
        assert_eq!(env.allocs_mapped(&c), mapped(&refs));

        let c = env.run(&format!("{q}&group_policy=none"));
        let both: &[&str] = &["_NET1", "_NET2"];
        let mut all: Vec<Vec<MappedRow>> = isolated.to_vec();
        for (cn, pf) in
            [("cn1", "cn1_numa0_pf0"), ("cn1", "cn1_numa1_pf1"), ("cn2", "cn2_numa0_pf0"), ("cn2", "cn2_numa1_pf1")]
        {
            all.push(vec![(cn, "VCPU", 2, &[""]), (pf, "SRIOV_NET_VF", 2, both)]);
        }
        let refs: Vec<&[MappedRow]> = all.iter().map(|v| v.as_slice()).collect();
        assert_eq!(env.allocs_mapped(&c), mapped(&refs));
    }

    // ---- gabbits: allocation-candidates.yaml (SharedStorageFixture)

    #[test]
    fn nested_by_microversion() {
        let mut env = shared_storage();
        let c = env.run("resources=SRIOV_NET_VF:4&version=1.28");
        assert_eq!(c.allocation_requests.len(), 4);
        assert_eq!(env.summary(&c), names(&["pf1_1", "pf1_2", "pf2_1", "pf2_2"]));
        let c = env.run("resources=SRIOV_NET_VF:4");
        assert_eq!(c.allocation_requests.len(), 4);
        assert_eq!(c.summaries.len(), 10);

        let c = env.run("resources=VCPU:1,SRIOV_NET_VF:4&version=1.28");
        assert!(c.allocation_requests.is_empty() && c.summaries.is_empty());
        let c = env.run("resources=VCPU:1,SRIOV_NET_VF:4");
        assert_eq!(c.allocation_requests.len(), 4);
        assert_eq!(c.summaries.len(), 10);
        assert_eq!(env.amounts(&c, "cn1", "VCPU"), [1, 1]);
        assert_eq!(env.amounts(&c, "pf2_2", "SRIOV_NET_VF"), [4]);

        let c = env.run("resources=VCPU:1,SRIOV_NET_VF:4&limit=1");
        assert_eq!(c.allocation_requests.len(), 1);
        assert_eq!(c.allocation_requests[0].allocations.len(), 2);
        assert_eq!(env.summary(&c), names(&["cn1", "numa1_1", "numa1_2", "pf1_1", "pf1_2"]));

        // Sharing providers combine with nested ones below 1.29, trees do not.
        let c = env.run("resources=DISK_GB:10,SRIOV_NET_VF:4&version=1.28");
        assert_eq!(c.allocation_requests.len(), 8);
        assert_eq!(env.summary(&c), names(&["pf1_1", "pf1_2", "pf2_1", "pf2_2", "ss", "ss2"]));
        // As upstream, limited summaries below 1.29 keep every provider any
        // candidate used in the kept trees (pf1_2 here).
        let c = env.run("resources=DISK_GB:10,SRIOV_NET_VF:4&version=1.28&limit=1");
        assert_eq!(env.allocs(&c), rows(&[&[("pf1_1", "SRIOV_NET_VF", 4), ("ss", "DISK_GB", 10)]]));
        assert_eq!(env.summary(&c), names(&["pf1_1", "pf1_2", "ss"]));
    }

    #[test]
    fn in_tree() {
        let mut env = shared_storage();
        let cn1_tree = names(&["cn1", "numa1_1", "numa1_2", "pf1_1", "pf1_2"]);
        for q in ["resources=VCPU:1,SRIOV_NET_VF:4&in_tree=cn1", "resources=VCPU:1,SRIOV_NET_VF:4&in_tree=pf1_2"] {
            let c = env.run(q);
            assert_eq!(c.allocation_requests.len(), 2);
            assert_eq!(env.summary(&c), cn1_tree);
            assert_eq!(env.amounts(&c, "cn1", "VCPU"), [1, 1]);
        }
        assert!(env.run("resources=VCPU:1,DISK_GB:10&in_tree=cn1").allocation_requests.is_empty());
        assert_eq!(
            env.got("resources=VCPU:1,DISK_GB:10&in_tree=cn2"),
            rows(&[&[("cn2", "VCPU", 1), ("cn2", "DISK_GB", 10)]])
        );
        assert!(env.run("resources=VCPU:1,DISK_GB:10&in_tree=ss").allocation_requests.is_empty());

        assert_eq!(env.got("resources1=VCPU:1&in_tree1=cn1"), rows(&[&[("cn1", "VCPU", 1)]]));
        assert_eq!(env.got("resources1=VCPU:1&in_tree1=pf1_1"), rows(&[&[("cn1", "VCPU", 1)]]));
        for q in ["resources1=SRIOV_NET_VF:4&in_tree1=cn1", "resources1=SRIOV_NET_VF:4&in_tree1=pf1_1"] {
            assert_eq!(env.got(q), rows(&[&[("pf1_1", "SRIOV_NET_VF", 4)], &[("pf1_2", "SRIOV_NET_VF", 4)]]));
        }
        assert!(env.run("resources=VCPU:1&resources1=DISK_GB:10&in_tree1=cn1").allocation_requests.is_empty());
        assert_eq!(
            env.got("resources=VCPU:1&resources1=DISK_GB:10&in_tree1=cn2"),
            rows(&[&[("cn2", "VCPU", 1), ("cn2", "DISK_GB", 10)]])
        );
        // A granular group confined to a sharing provider still follows it to its anchors.
        assert_eq!(
            env.got("resources=VCPU:1&resources1=DISK_GB:10&in_tree1=ss"),
            rows(&[&[("cn1", "VCPU", 1), ("ss", "DISK_GB", 10)], &[("cn2", "VCPU", 1), ("ss", "DISK_GB", 10)]])
        );
        assert_eq!(
            env.got("resources=VCPU:1&in_tree=cn1&resources1=DISK_GB:10"),
            rows(&[&[("cn1", "VCPU", 1), ("ss", "DISK_GB", 10)], &[("cn1", "VCPU", 1), ("ss2", "DISK_GB", 10)]])
        );
        let c = env.run("resources=VCPU:1&in_tree=cn2&resources1=DISK_GB:10");
        assert_eq!(c.allocation_requests.len(), 3);
        assert_eq!(env.amounts(&c, "cn2", "VCPU"), [1, 1, 1]);
        assert_eq!(
            env.got("resources1=VCPU:1&in_tree1=cn1&resources2=DISK_GB:10&in_tree2=ss&group_policy=none"),
            rows(&[&[("cn1", "VCPU", 1), ("ss", "DISK_GB", 10)]])
        );
    }

    // ---- gabbits: granular.yaml (GranularFixture)

    #[test]
    fn granular_policies() {
        let mut env = granular();
        let c = env.run("resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=none");
        assert_eq!(c.allocation_requests.len(), 3);
        assert_eq!(c.summaries.len(), 3);
        let c = env.run("resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate");
        assert!(c.allocation_requests.is_empty() && c.summaries.is_empty());
        let c = env
            .run("resources=VCPU:3,MEMORY_MB:512&resources1=VCPU:1,MEMORY_MB:1024&resources2=VCPU:2&group_policy=none");
        assert_eq!(c.allocation_requests.len(), 3);
        assert_eq!(env.amounts(&c, "cn_middle", "VCPU"), [6]);
        assert_eq!(env.amounts(&c, "cn_middle", "MEMORY_MB"), [1536]);
        assert_eq!(env.run("resources=VCPU:1&resources1=MEMORY_MB:2048").allocation_requests.len(), 3);

        let c = env.run("resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=isolate");
        assert_eq!((c.allocation_requests.len(), c.summaries.len()), (5, 5));
        let c = env.run("resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=none");
        assert_eq!((c.allocation_requests.len(), c.summaries.len()), (7, 5));

        for q in ["resources1=DISK_GB:800", "resources=DISK_GB:800"] {
            let c = env.run(q);
            assert_eq!(env.allocs(&c), rows(&[&[("shr_disk_1", "DISK_GB", 800)], &[("shr_disk_2", "DISK_GB", 800)]]));
            assert_eq!(env.summary(&c), ["shr_disk_1", "shr_disk_2"]);
        }
    }

    #[test]
    fn granular_traits_and_aggregates() {
        let mut env = granular();
        let c = env.run(
            "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&required2=CUSTOM_DISK_SSD&group_policy=isolate",
        );
        let with = |cn: &'static str| [(cn, "VCPU", 1), (cn, "MEMORY_MB", 1024), ("shr_disk_1", "DISK_GB", 100)];
        assert_eq!(env.allocs(&c), rows(&[&with("cn_left"), &with("cn_middle")]));
        assert_eq!(env.summary(&c), ["cn_left", "cn_middle", "shr_disk_1"]);

        let c = env.run("resources1=VCPU:1&resources2=DISK_GB:100&required2=!CUSTOM_DISK_SSD&group_policy=none");
        assert_eq!(c.allocation_requests.len(), 4);
        assert_eq!(env.amounts(&c, "cn_left", "VCPU"), [1, 1]);
        assert_eq!(env.amounts(&c, "shr_disk_2", "DISK_GB"), [100, 100, 100]);
        assert_eq!(env.summary(&c), ["cn_left", "cn_middle", "cn_right", "shr_disk_2"]);

        let c = env.run("resources1=VCPU:1&resources2=DISK_GB:100&member_of2=aggC&group_policy=none");
        assert_eq!(env.allocs(&c), rows(&[&[("cn_right", "VCPU", 1), ("cn_right", "DISK_GB", 100)]]));
        assert_eq!(env.summary(&c), ["cn_right"]);

        for q in [
            "resources1=VCPU:1&required1=!HW_CPU_X86_SSE&resources2=DISK_GB:100&required2=CUSTOM_DISK_SSD\
             &member_of2=in:aggA,aggC&group_policy=none",
            "resources_compute=VCPU:1&required_compute=!HW_CPU_X86_SSE&resources_disk=DISK_GB:100\
             &required_disk=CUSTOM_DISK_SSD&member_of_disk=in:aggA,aggC&group_policy=none",
        ] {
            let c = env.run(q);
            assert_eq!(
                env.allocs(&c),
                rows(&[
                    &[("cn_left", "VCPU", 1), ("shr_disk_1", "DISK_GB", 100)],
                    &[("cn_right", "VCPU", 1), ("cn_right", "DISK_GB", 100)]
                ])
            );
            assert_eq!(env.summary(&c), ["cn_left", "cn_right", "shr_disk_1"]);
        }

        let c = env.run(
            "resources1=VCPU:1&resources2=DISK_GB:100&member_of2=in:aggB,aggC&member_of2=aggA&group_policy=isolate",
        );
        assert_eq!(c.allocation_requests.len(), 3);
        assert_eq!(env.amounts(&c, "shr_disk_2", "DISK_GB"), [100, 100, 100]);
        assert_eq!(env.summary(&c), ["cn_left", "cn_middle", "cn_right", "shr_disk_2"]);
    }

    #[test]
    fn granular_many_groups() {
        let mut env = granular();
        let q = "resources1=VCPU:1&resources2=VGPU:1&required2=HW_GPU_API_DXVA&resources3=MEMORY_MB:1024\
                 &resources4=DISK_GB:100&required4=CUSTOM_DISK_SSD&resources5=DISK_GB:50&required5=!CUSTOM_DISK_SSD\
                 &resources6=SRIOV_NET_VF:1,CUSTOM_NET_MBPS:1000&resources7=SRIOV_NET_VF:2,CUSTOM_NET_MBPS:2000\
                 &group_policy=none";
        let c = env.run(q);
        let left = [("cn_left", "VCPU", 1), ("cn_left", "MEMORY_MB", 1024), ("cn_left", "VGPU", 1)];
        let left_net = [("cn_left", "SRIOV_NET_VF", 3), ("cn_left", "CUSTOM_NET_MBPS", 3000)];
        let a: Vec<_> = [&left[..], &left_net, &[("cn_left", "DISK_GB", 50), ("shr_disk_1", "DISK_GB", 100)]].concat();
        let b: Vec<_> =
            [&left[..], &left_net, &[("shr_disk_1", "DISK_GB", 100), ("shr_disk_2", "DISK_GB", 50)]].concat();
        let right = [
            ("cn_right", "VCPU", 1),
            ("cn_right", "MEMORY_MB", 1024),
            ("cn_right", "VGPU", 1),
            ("cn_right", "DISK_GB", 100),
            ("shr_disk_2", "DISK_GB", 50),
            ("shr_net", "SRIOV_NET_VF", 3),
            ("shr_net", "CUSTOM_NET_MBPS", 3000),
        ];
        assert_eq!(env.allocs(&c), rows(&[&a, &b, &right]));
        assert_eq!(env.summary(&c), ["cn_left", "cn_right", "shr_disk_1", "shr_disk_2", "shr_net"]);
    }

    #[test]
    fn granular_summed_capacity() {
        let mut env = granular();
        let c = env.run(
            "resources=VCPU:2,MEMORY_MB:2048,SRIOV_NET_VF:1,CUSTOM_NET_MBPS:2000\
             &resources1=SRIOV_NET_VF:1,CUSTOM_NET_MBPS:3000",
        );
        assert_eq!(
            env.allocs(&c),
            rows(&[&[
                ("cn_right", "VCPU", 2),
                ("cn_right", "MEMORY_MB", 2048),
                ("shr_net", "SRIOV_NET_VF", 2),
                ("shr_net", "CUSTOM_NET_MBPS", 5000)
            ]])
        );
        assert_eq!(env.summary(&c), ["cn_right", "shr_net"]);
        // max_unit applies to the sum too.
        let c = env.run("resources=VGPU:1&resources1=VGPU:1&resources2=VGPU:1&group_policy=none");
        assert_eq!(env.allocs(&c), rows(&[&[("cn_left", "VGPU", 3)]]));
        assert_eq!(env.summary(&c), ["cn_left"]);
    }

    #[test]
    fn mappings_with_sharing() {
        let mut env = granular();
        let c = env.run("resources=VCPU:1&required=HW_CPU_X86_SSE");
        assert_eq!(env.mapping(&c.allocation_requests[0], ""), ["cn_middle"]);
        let c = env.run("resources=VCPU:1,DISK_GB:1&required=HW_CPU_X86_SSE");
        assert_eq!(c.allocation_requests.len(), 2);
        assert_eq!(c.summaries.len(), 3);
        assert!(c.allocation_requests.iter().all(|ar| ar.mappings.len() == 1 && ar.mappings[""].len() == 2));
        let c = env.run(
            "resources=VCPU:1&resources_DISK_A=DISK_GB:1&resources_DISK_B=DISK_GB:1&required=HW_CPU_X86_SSE\
                     &group_policy=isolate",
        );
        assert_eq!(c.allocation_requests.len(), 2);
        assert_eq!(c.summaries.len(), 3);
        for ar in &c.allocation_requests {
            assert_eq!(env.mapping(ar, ""), ["cn_middle"]);
            assert_ne!(env.mapping(ar, "_DISK_A"), env.mapping(ar, "_DISK_B"));
        }
    }

    // ---- gabbits: allocation-candidates-bug-1792503.yaml (NUMAAggregateFixture)

    #[test]
    fn member_of_on_nested_trees() {
        let mut env = numa_aggregate();
        let numas = ["numa1_1", "numa1_2", "numa2_1", "numa2_2"];
        let vcpu = |list: &[&'static str]| -> Vec<Vec<(String, String, i64)>> {
            let v: Vec<[(&str, &str, i64); 1]> = list.iter().map(|&n| [(n, "VCPU", 1)]).collect();
            rows(&v.iter().map(|r| &r[..]).collect::<Vec<_>>())
        };
        assert_eq!(env.got("resources=VCPU:1"), vcpu(&numas));
        // An aggregate on the root spans the tree, for the unsuffixed group only.
        assert_eq!(env.got("resources=VCPU:1&member_of=aggA"), vcpu(&numas));
        assert!(env.run("resources1=VCPU:1&member_of1=aggA").allocation_requests.is_empty());
        assert_eq!(env.got("resources=VCPU:1&member_of=aggB"), vcpu(&["numa2_1", "numa2_2"]));
        assert_eq!(env.got("resources=VCPU:1&member_of=aggC"), vcpu(&["numa1_1"]));
        assert_eq!(env.got("resources1=VCPU:1&member_of1=aggC"), vcpu(&["numa1_1"]));

        let q = "resources=VCPU:1,DISK_GB:1000";
        let pair = |n: &'static str, ss: &'static str| [(n, "VCPU", 1), (ss, "DISK_GB", 1000)];
        let c = env.run(q);
        assert_eq!(
            env.allocs(&c),
            rows(&[
                &pair("numa1_1", "ss1"),
                &pair("numa1_2", "ss1"),
                &pair("numa2_1", "ss1"),
                &pair("numa2_2", "ss1"),
                &pair("numa1_1", "ss2"),
                &pair("numa1_2", "ss2"),
            ])
        );
        assert_eq!(
            env.got(&format!("{q}&member_of=aggA")),
            rows(&[&pair("numa1_1", "ss1"), &pair("numa1_2", "ss1"), &pair("numa2_1", "ss1"), &pair("numa2_2", "ss1")])
        );
        assert!(env.run(&format!("{q}&member_of=aggB")).allocation_requests.is_empty());
        assert_eq!(env.got(&format!("{q}&member_of=aggC")), rows(&[&pair("numa1_1", "ss2")]));
        assert!(env.run(&format!("{q}&member_of=!aggA")).allocation_requests.is_empty());
        assert_eq!(
            env.got(&format!("{q}&member_of=!aggB")),
            rows(&[&pair("numa1_1", "ss1"), &pair("numa1_2", "ss1"), &pair("numa1_1", "ss2"), &pair("numa1_2", "ss2")])
        );
        let not_c = rows(&[&pair("numa1_2", "ss1"), &pair("numa2_1", "ss1"), &pair("numa2_2", "ss1")]);
        assert_eq!(env.got(&format!("{q}&member_of=!aggC")), not_c);
        assert_eq!(env.got(&format!("{q}&member_of=in:aggA,aggB&member_of=!aggC")), not_c);
        assert_eq!(env.got(&format!("{q}&member_of=aggA&member_of=!in:aggB,aggC")), rows(&[&pair("numa1_2", "ss1")]));
    }

    #[test]
    fn forbidden_aggregates_flat() {
        let mut env = Env::new();
        env.rp("cn1", None, &["aggA", "aggC"]);
        env.rp("cn2", None, &["aggB"]);
        env.rp("cn3", None, &[]);
        for cn in ["cn1", "cn2", "cn3"] {
            env.inv(cn, "VCPU", 24);
        }
        assert_eq!(env.got("resources=VCPU:1&member_of=!aggC"), rows(&[&[("cn2", "VCPU", 1)], &[("cn3", "VCPU", 1)]]));
        assert_eq!(env.got("resources=VCPU:1&member_of=!in:aggB,aggC"), rows(&[&[("cn3", "VCPU", 1)]]));
        assert_eq!(env.got("resources=VCPU:1&member_of=!aggB&member_of=aggC"), rows(&[&[("cn1", "VCPU", 1)]]));
        assert!(env.run("resources=VCPU:1&member_of=!in:aggB,aggC&member_of=aggA").allocation_requests.is_empty());
        assert!(env.run("resources=VCPU:1&member_of=!aggB&member_of=aggB").allocation_requests.is_empty());
        assert!(env.run("resources=VCPU:1&member_of=aggD").allocation_requests.is_empty());
    }

    // ---- gabbits: granular-same-subtree.yaml, same-subtree-deep.yaml (NUMANetworkFixture)

    #[test]
    fn same_subtree_resourceful() {
        let mut env = numa_network();
        let q = "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&group_policy=none";
        assert_eq!(env.run(q).allocation_requests.len(), 6);
        assert_eq!(env.run(&format!("{q}&same_subtree=_COMPUTE")).allocation_requests.len(), 6);
        let c = env.run(&format!("{q}&same_subtree=_COMPUTE,_ACCEL"));
        assert_eq!(
            env.allocs(&c),
            rows(&[
                &[("numa0", "VCPU", 1), ("fpga0", "FPGA", 1)],
                &[("numa1", "VCPU", 1), ("fpga1_0", "FPGA", 1)],
                &[("numa1", "VCPU", 1), ("fpga1_1", "FPGA", 1)],
            ])
        );
        let q = "resources_COMPUTE1=VCPU:1&resources_COMPUTE2=MEMORY_MB:1024&same_subtree=_COMPUTE1,_COMPUTE2";
        let c = env.run(&format!("{q}&group_policy=none"));
        let same = |p: &'static str| [(p, "VCPU", 1), (p, "MEMORY_MB", 1024)];
        assert_eq!(env.allocs(&c), rows(&[&same("numa0"), &same("numa1"), &same("cn2")]));
        assert!(env.run(&format!("{q}&group_policy=isolate")).allocation_requests.is_empty());
        let c = env.run(
            "resources=VCPU:1&resources_PORT1=CUSTOM_VF:4&required_PORT1=CUSTOM_PHYSNET1\
             &resources_PORT2=CUSTOM_VF:4&required_PORT2=CUSTOM_PHYSNET2&group_policy=none",
        );
        assert_eq!(c.allocation_requests.len(), 2);
        assert_eq!(env.amounts(&c, "pf1_2", "CUSTOM_VF"), [4, 4]);
    }

    #[test]
    fn same_subtree_resourceless() {
        let mut env = numa_network();
        let base = "resources=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:4\
                    &required_PORT1=CUSTOM_PHYSNET1&resources_PORT2=CUSTOM_VF:4&required_PORT2=CUSTOM_PHYSNET2\
                    &same_subtree=_NIC,_PORT1,_PORT2&group_policy=none";
        let c = env.run(base);
        assert_eq!(
            env.allocs(&c),
            rows(&[&[("cn2", "VCPU", 1), ("pf1_1", "CUSTOM_VF", 4), ("pf1_2", "CUSTOM_VF", 4)]])
        );
        let ar = &c.allocation_requests[0];
        assert_eq!(ar.mappings.len(), 4);
        assert_eq!(env.mapping(ar, ""), ["cn2"]);
        assert_eq!(env.mapping(ar, "_NIC"), ["nic1"]);
        assert_eq!(env.mapping(ar, "_PORT1"), ["pf1_1"]);
        assert_eq!(env.mapping(ar, "_PORT2"), ["pf1_2"]);

        let two = base.replace("CUSTOM_VF:4", "CUSTOM_VF:2");
        for policy in ["none", "isolate"] {
            let c = env.run(&two.replace("group_policy=none", &format!("group_policy={policy}")));
            assert_eq!(c.allocation_requests.len(), 5);
            assert_eq!(env.amounts(&c, "pf2_1", "CUSTOM_VF"), [2, 2]);
            assert_eq!(env.amounts(&c, "pf2_4", "CUSTOM_VF"), [2, 2]);
        }

        let split = "resources=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:2\
                     &required_PORT1=CUSTOM_PHYSNET1\
                     &resources_PORT2A=CUSTOM_VF:1&required_PORT2A=CUSTOM_PHYSNET2&resources_PORT2B=CUSTOM_VF:1\
                     &required_PORT2B=CUSTOM_PHYSNET2&same_subtree=_NIC,_PORT1,_PORT2A,_PORT2B";
        let c = env.run(&format!("{split}&group_policy=none"));
        assert_eq!(c.allocation_requests.len(), 9);
        assert_eq!(env.amounts(&c, "pf2_2", "CUSTOM_VF"), [1, 1, 1, 1, 2, 2]);
        let c = env.run(&format!("{split}&group_policy=isolate"));
        assert_eq!(c.allocation_requests.len(), 4);
        assert_eq!(env.amounts(&c, "pf2_2", "CUSTOM_VF"), [1, 1, 1, 1]);
        assert_eq!(env.amounts(&c, "pf2_1", "CUSTOM_VF"), [2, 2]);

        let same = "resources_PORT1=CUSTOM_VF:8&required_PORT2=CUSTOM_PHYSNET1&same_subtree=_PORT1,_PORT2";
        let c = env.run(&format!("{same}&group_policy=none"));
        assert_eq!(env.allocs(&c), rows(&[&[("pf3_1", "CUSTOM_VF", 8)]]));
        assert_eq!(env.mapping(&c.allocation_requests[0], "_PORT2"), ["pf3_1"]);
        assert!(env.run(&format!("{same}&group_policy=isolate")).allocation_requests.is_empty());

        let multi = "resources_COMPUTE1=VCPU:1&required_COMPUTE2=CUSTOM_FOO&required_COMPUTE3=HW_NUMA_ROOT\
                     &same_subtree=_COMPUTE1,_COMPUTE2,_COMPUTE3";
        let c = env.run(&format!("{multi}&group_policy=none"));
        assert_eq!(env.allocs(&c), rows(&[&[("numa1", "VCPU", 1)]]));
        assert_eq!(c.allocation_requests[0].mappings.len(), 3);
        assert!(env.run(&format!("{multi}&group_policy=isolate")).allocation_requests.is_empty());
    }

    #[test]
    fn same_subtree_fpgas_and_multiple_constraints() {
        let mut env = numa_network();
        let fpgas = "resources_ACCEL1=FPGA:1&resources_ACCEL2=FPGA:1&group_policy=isolate";
        for st in ["_NUMA,_ACCEL1,_ACCEL2", "_NUMA,_ACCEL1,_ACCEL2,_NUMA,_ACCEL1"] {
            let c = env.run(&format!("required_NUMA=HW_NUMA_ROOT&{fpgas}&same_subtree={st}"));
            assert_eq!(c.allocation_requests.len(), 2);
            for ar in &c.allocation_requests {
                assert_eq!(env.mapping(ar, "_NUMA"), ["numa1"]);
            }
        }
        let c = env.run(&format!("required_NUMA=HW_NUMA_ROOT,!CUSTOM_FOO&{fpgas}&same_subtree=_NUMA,_ACCEL1,_ACCEL2"));
        assert!(c.allocation_requests.is_empty());

        let c = env.run(
            "required_NUMA=HW_NUMA_ROOT&resources_COMPUTE=VCPU:2,MEMORY_MB:512&resources_FPGA=FPGA:1\
             &resources_GPU=VGPU:1\
             &required_SRIOV=CUSTOM_VNIC_TYPE_DIRECT&resources_NET1=NET_BW_EGR_KILOBIT_PER_SEC:100\
             &required_NET1=CUSTOM_PHYSNET1&resources_NET2=NET_BW_EGR_KILOBIT_PER_SEC:100&required_NET2=CUSTOM_PHYSNET2\
             &same_subtree=_NUMA,_COMPUTE,_GPU,_FPGA&same_subtree=_SRIOV,_NET1,_NET2&group_policy=none",
        );
        assert_eq!(
            env.allocs(&c),
            rows(&[&[
                ("numa0", "VCPU", 2),
                ("numa0", "MEMORY_MB", 512),
                ("fpga0", "FPGA", 1),
                ("pgpu0", "VGPU", 1),
                ("esn1", "NET_BW_EGR_KILOBIT_PER_SEC", 100),
                ("esn2", "NET_BW_EGR_KILOBIT_PER_SEC", 100),
            ]])
        );
        let ar = &c.allocation_requests[0];
        assert_eq!(env.mapping(ar, "_NUMA"), ["numa0"]);
        assert_eq!(env.mapping(ar, "_SRIOV"), ["sriov_agent"]);

        let ports = "resources_COMPUTE=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:2\
                     &required_PORT1=CUSTOM_PHYSNET1&group_policy=none";
        let c = env.run(&format!("{ports}&same_subtree=_NIC,_COMPUTE&same_subtree=_NIC,_PORT1"));
        assert_eq!((c.allocation_requests.len(), c.summaries.len()), (4, 11));
        assert!(c.allocation_requests.iter().all(|ar| env.mapping(ar, "_COMPUTE") == ["cn2"]));
        let c = env.run(&format!("{ports}&same_subtree=_NIC,_COMPUTE,_PORT1"));
        assert_eq!((c.allocation_requests.len(), c.summaries.len()), (12, 11));
        assert_eq!(env.amounts(&c, "pf3_1", "CUSTOM_VF"), [2, 2, 2]);

        let c = env.run(
            "required_MULTI_ATTACH=COMPUTE_VOLUME_MULTI_ATTACH&resources_BW=NET_BW_EGR_KILOBIT_PER_SEC:100\
             &resources_COMPUTE=VCPU:4&same_subtree=_MULTI_ATTACH,_BW,_COMPUTE&group_policy=isolate",
        );
        assert_eq!(c.allocation_requests.len(), 3);
    }

    #[test]
    fn same_subtree_deep() {
        let mut env = Env::new();
        env.rp("gp1", None, &[]);
        env.rp("p1", Some("gp1"), &[]);
        env.rp("p2", Some("gp1"), &[]);
        // Rebuild the NUMA network fixture with cn1 and cn2 under p1 and p2.
        let flat = numa_network();
        for p in &flat.snap.providers {
            let parent = match p.parent {
                Some(i) => Some(flat.snap.providers[i].name.clone()),
                None if p.name == "cn1" => Some("p1".to_string()),
                None if p.name == "cn2" => Some("p2".to_string()),
                None => None,
            };
            let aggs: Vec<&str> = p.aggregates.iter().map(String::as_str).collect();
            env.rp(&p.name, parent.as_deref(), &aggs);
            let traits: Vec<&str> = p.traits.iter().map(|&t| flat.traits[t as usize].as_str()).collect();
            env.set_traits(&p.name, &traits);
            for inv in &p.inventories {
                let rc = flat.rcs[inv.resource_class as usize].clone();
                let inv = inv.clone();
                env.inv_with(&p.name, &rc, inv.total, |i| *i = Inventory { resource_class: i.resource_class, ..inv });
            }
        }
        for q in [
            "resources_COMPUTE=VCPU:1&required_COMPUTE=CUSTOM_FOO&required_NIC=CUSTOM_HW_NIC_ROOT\
             &resources_PORT1=CUSTOM_VF:2\
             &required_PORT1=CUSTOM_PHYSNET1&same_subtree=_NIC,_COMPUTE&same_subtree=_NIC,_PORT1&group_policy=none",
            "resources_COMPUTE=VCPU:1&required_COMPUTE=CUSTOM_FOO&resources_PORT1=CUSTOM_VF:2\
             &required_PORT1=CUSTOM_PHYSNET1\
             &same_subtree=_COMPUTE,_PORT1&group_policy=none",
            "resources_COMPUTE=VCPU:1&resources_PORT1=CUSTOM_VF:2&required_PORT1=CUSTOM_PHYSNET1\
             &same_subtree=_COMPUTE,_PORT1&group_policy=none",
        ] {
            let c = env.run(q);
            assert_eq!((c.allocation_requests.len(), c.summaries.len()), (4, 26));
            assert_eq!(env.amounts(&c, "cn2", "VCPU"), [1, 1, 1, 1]);
            assert_eq!(env.amounts(&c, "pf2_3", "CUSTOM_VF"), [2]);
        }
    }

    // ---- gabbits: allocation-candidates-root-required.yaml (NUMANetworkFixture)

    #[test]
    fn root_required() {
        let mut env = numa_network();
        let full = "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100";
        assert!(env.run("resources=VCPU:1&root_required=HW_NUMA_ROOT").allocation_requests.is_empty());
        for rr in [SHARES, "HW_NUMA_ROOT", "HW_CPU_X86_AVX2"] {
            assert!(env.run(&format!("{full}&root_required={rr}")).allocation_requests.is_empty());
        }
        let multi = "root_required=COMPUTE_VOLUME_MULTI_ATTACH";
        let c = env.run(&format!("resources=VCPU:1,MEMORY_MB:1024&{multi}"));
        assert_eq!(c.allocation_requests.len(), 4);
        assert_eq!(env.amounts(&c, "numa0", "VCPU"), [1, 1]);
        assert_eq!(env.amounts(&c, "numa1", "MEMORY_MB"), [1024, 1024]);
        let c = env.run(&format!("resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=none&{multi}"));
        assert_eq!(c.allocation_requests.len(), 4);
        let c = env.run(&format!("resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate&{multi}"));
        assert_eq!(c.allocation_requests.len(), 2);
        assert_eq!(env.run(&format!("{full}&{multi}")).allocation_requests.len(), 4);
        let c = env.run(&format!("resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=none&{multi}"));
        assert_eq!(c.allocation_requests.len(), 2);

        let c = env.run("resources=VCPU:1,DISK_GB:100&required=CUSTOM_FOO");
        assert_eq!(
            env.allocs(&c),
            rows(&[
                &[("numa1", "VCPU", 1), ("ss1", "DISK_GB", 100)],
                &[("cn2", "VCPU", 1), ("ss1", "DISK_GB", 100)],
                &[("cn2", "VCPU", 1), ("cn2", "DISK_GB", 100)],
            ])
        );
        let cn2_only =
            rows(&[&[("cn2", "VCPU", 1), ("ss1", "DISK_GB", 100)], &[("cn2", "VCPU", 1), ("cn2", "DISK_GB", 100)]]);
        assert_eq!(env.got("resources=VCPU:1,DISK_GB:100&root_required=CUSTOM_FOO"), cn2_only);
        assert_eq!(
            env.run("resources1=VCPU:1&required1=CUSTOM_FOO&resources2=DISK_GB:100&group_policy=none")
                .allocation_requests
                .len(),
            3
        );
        assert_eq!(
            env.got("resources1=VCPU:1&resources2=DISK_GB:100&group_policy=none&root_required=CUSTOM_FOO"),
            cn2_only
        );

        let c = env.run("resources=VCPU:3&root_required=!HW_NUMA_ROOT");
        assert_eq!(env.allocs(&c), rows(&[&[("numa1", "VCPU", 3)], &[("cn2", "VCPU", 3)]]));
        let c = env.run(&format!("{full}&root_required=!{SHARES}"));
        assert_eq!(c.allocation_requests.len(), 6);
        assert_eq!(env.amounts(&c, "ss1", "DISK_GB"), [100; 5]);
        for rr in ["CUSTOM_FOO,!HW_NUMA_ROOT", "CUSTOM_FOO,!COMPUTE_VOLUME_MULTI_ATTACH"] {
            let c = env.run(&format!("{full}&root_required={rr}"));
            assert_eq!(c.allocation_requests.len(), 2);
            assert_eq!(env.amounts(&c, "cn2", "VCPU"), [1, 1]);
        }
        assert!(env
            .run(&format!("{full}&root_required=!CUSTOM_FOO,!COMPUTE_VOLUME_MULTI_ATTACH"))
            .allocation_requests
            .is_empty());
        let c = env
            .run("resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=none&root_required=!CUSTOM_FOO");
        assert_eq!(c.allocation_requests.len(), 2);
        assert_eq!(env.amounts(&c, "ss1", "DISK_GB"), [100, 100]);

        for q in [
            "resources=VCPU:1&required=CUSTOM_FOO&root_required=CUSTOM_FOO",
            "resources1=VCPU:1&required1=CUSTOM_FOO&root_required=CUSTOM_FOO",
        ] {
            assert_eq!(env.got(q), rows(&[&[("cn2", "VCPU", 1)]]));
        }
        assert_eq!(
            env.got("resources1=VCPU:1&required1=CUSTOM_FOO&root_required=!CUSTOM_FOO"),
            rows(&[&[("numa1", "VCPU", 1)]])
        );
        assert!(env
            .run("resources1=VCPU:1&required1=!CUSTOM_FOO&root_required=CUSTOM_FOO")
            .allocation_requests
            .is_empty());
    }

    // ---- engine behaviour

    /// Upstream quirks kept for resourceless groups: without required traits
    /// or member_of they match nothing, and in_tree is not applied.
    #[test]
    fn resourceless_group_quirks() {
        let mut env = numa_network();
        let q = "resources_COMPUTE=VCPU:1&same_subtree=_COMPUTE,_X&group_policy=none";
        assert!(env.run(&format!("{q}&required_X=!CUSTOM_NOPE")).allocation_requests.is_empty());
        assert!(env.run(&format!("{q}&in_tree_X=cn1")).allocation_requests.is_empty());
        let c = env.run(&format!("{q}&required_X=HW_NUMA_ROOT&in_tree_X=cn2"));
        assert_eq!(env.allocs(&c), rows(&[&[("numa0", "VCPU", 1)], &[("numa1", "VCPU", 1)]]));
    }

    #[test]
    fn limit_equals_truncation() {
        let mut env = granular();
        let queries = [
            "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=none",
            "resources=VCPU:1,DISK_GB:1",
            "resources=DISK_GB:10",
            "resources=VCPU:1&resources_A=DISK_GB:1&resources_B=DISK_GB:1&group_policy=none",
        ];
        for q in queries {
            let all = env.run(q);
            for limit in 1..=all.allocation_requests.len() + 1 {
                let c = env.run(&format!("{q}&limit={limit}"));
                let kept = limit.min(all.allocation_requests.len());
                assert_eq!(c.allocation_requests, all.allocation_requests[..kept]);
                let mut roots: Vec<usize> = c
                    .allocation_requests
                    .iter()
                    .flat_map(|ar| ar.allocations.keys().map(|&p| env.snap.providers[p].root))
                    .collect();
                roots.sort_unstable();
                roots.dedup();
                let expected: Vec<usize> =
                    all.summaries.iter().copied().filter(|&p| roots.contains(&env.snap.providers[p].root)).collect();
                assert_eq!(c.summaries, expected, "{q} limit {limit}");
            }
        }
    }

    #[test]
    fn randomize_samples_from_all() {
        let mut env = granular();
        let q = "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=none";
        let all = env.run(q);
        let c = env.run(&format!("{q}&randomize=true"));
        assert_eq!(c.allocation_requests.len(), all.allocation_requests.len());
        assert!(c.allocation_requests.iter().all(|ar| all.allocation_requests.contains(ar)));
        assert_eq!(c.summaries, all.summaries);
        for _ in 0..20 {
            let c = env.run(&format!("{q}&randomize=true&limit=3"));
            assert_eq!(c.allocation_requests.len(), 3);
            assert!(c.allocation_requests.iter().all(|ar| all.allocation_requests.contains(ar)));
            assert!(c.allocation_requests.iter().all(|ar| ar.allocations.keys().all(|p| c.summaries.contains(p))));
        }
    }

    #[test]
    fn strategies_and_cap() {
        let mut env = nested_trees();
        let req =
            env.q("resources=VCPU:2&resources_NET1=SRIOV_NET_VF:1&resources_NET2=SRIOV_NET_VF:1&group_policy=none");
        let depth = compute(&env.snap, &req);
        let breadth =
            compute_with(&env.snap, &req, &Options { strategy: Strategy::BreadthFirst, max_candidates: None });
        assert_eq!(depth.allocation_requests.len(), 8);
        assert_eq!(env.allocs(&depth), env.allocs(&breadth));
        assert_eq!(depth.summaries, breadth.summaries);

        let cn1 = env.idx("cn1");
        let capped = compute_with(&env.snap, &req, &Options { max_candidates: Some(3), ..Default::default() });
        assert_eq!(capped.allocation_requests.len(), 3);
        assert!(capped.allocation_requests.iter().all(|ar| ar.allocations.contains_key(&cn1)));
        let capped =
            compute_with(&env.snap, &req, &Options { strategy: Strategy::BreadthFirst, max_candidates: Some(2) });
        let anchors: Vec<bool> =
            capped.allocation_requests.iter().map(|ar| ar.allocations.contains_key(&cn1)).collect();
        assert_eq!(anchors, [true, false]);
        assert_eq!(capped.summaries.len(), 10);
    }

    /// The lazy candidates are the written-out ones, one by one, each in the
    /// tree of its non-sharing providers.
    #[test]
    fn choices_match_compute() {
        let cases: [(Env, &str); 4] = [
            (granular(), "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=none"),
            (local_with_shared_disk(), "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:1500"),
            (numa_network(), "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&resources=DISK_GB:10&group_policy=none"),
            (granular(), "resources=VCPU:1,DISK_GB:1&limit=2"),
        ];
        for (mut env, q) in cases {
            let req = env.q(q);
            let all = compute(&env.snap, &req);
            let lazy = choices(&env.snap, &req, &Options::default());
            assert!(!all.allocation_requests.is_empty(), "{q}");
            assert_eq!(lazy.len(), all.allocation_requests.len(), "{q}");
            for (i, ar) in all.allocation_requests.iter().enumerate() {
                assert_eq!(&lazy.materialize(i), ar, "{q} candidate {i}");
                let root = lazy.root(i);
                let shares = env.snap.shares_trait.unwrap();
                for p in ar.allocations.keys() {
                    let provider = &env.snap.providers[*p];
                    if !provider.traits.contains(&shares) {
                        assert_eq!(provider.root, root, "{q} candidate {i}");
                    }
                }
            }
        }
        let mut env = granular();
        let req = env.q("resources=VCPU:100");
        assert!(choices(&env.snap, &req, &Options::default()).is_empty());
        assert!(choices(&Snapshot::default(), &CandidateRequest::default(), &Options::default()).is_empty());
    }

    #[test]
    fn empty_requests() {
        let mut env = granular();
        assert!(compute(&env.snap, &CandidateRequest::default()).allocation_requests.is_empty());
        assert!(env.run("resources=VCPU:100").allocation_requests.is_empty());
        assert!(env.run("resources=NOPE:1").allocation_requests.is_empty());
        let c = env.run("resources=VCPU:1&resources1=VGPU:3&group_policy=none");
        assert_eq!(env.allocs(&c), rows(&[&[("cn_left", "VCPU", 1), ("cn_left", "VGPU", 3)]]));
        let c = compute(&Snapshot::default(), &CandidateRequest::default());
        assert!(c.allocation_requests.is_empty() && c.summaries.is_empty());
    }

    /// 10,000 compute nodes (10% with a PGPU and a NIC child, 30% partly
    /// used), one sharing DISK_GB provider per 100 of them. Run with
    /// `cargo test --release -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timing_10k() {
        let mut env = Env::new();
        for i in 0..10_000 {
            let agg = format!("{:08x}-0000-4000-8000-{:012x}", i / 100, i / 100);
            if i % 100 == 0 {
                let ss = format!("ss-{}", i / 100);
                env.rp(&ss, None, &[&agg]);
                env.inv(&ss, "DISK_GB", 100_000);
                env.set_traits(&ss, &[SHARES]);
            }
            let cn = format!("cn-{i}");
            env.rp(&cn, None, &[&agg]);
            env.inv_with(&cn, "VCPU", 64, |inv| inv.allocation_ratio = 4.0);
            env.inv(&cn, "MEMORY_MB", 262_144);
            env.inv(&cn, "DISK_GB", 2000);
            env.set_traits(&cn, if i % 2 == 0 { &["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE"] } else { &["HW_CPU_X86_SSE"] });
            if i % 10 == 3 {
                let pgpu = format!("{cn}-pgpu");
                env.rp(&pgpu, Some(&cn), &[]);
                env.inv(&pgpu, "VGPU", 16);
                let nic = format!("{cn}-nic");
                env.rp(&nic, Some(&cn), &[]);
                env.inv(&nic, "SRIOV_NET_VF", 8);
            }
            if i % 10 < 3 {
                env.set_used(&cn, "VCPU", 32);
                env.set_used(&cn, "MEMORY_MB", 65_536);
                env.set_used(&cn, "DISK_GB", 400);
            }
        }
        let queries = [
            "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20&limit=1000",
            "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20",
            "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20&limit=1000&randomize=true",
            "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20&required=HW_CPU_X86_AVX2&limit=1000",
            "resources1=VGPU:1&group_policy=isolate",
            "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20&resources1=VGPU:1&group_policy=isolate&limit=1000",
            "resources1=VGPU:1&resources2=SRIOV_NET_VF:1&group_policy=isolate",
            "resources=VCPU:1000",
            "resources=VCPU:2&limit=1",
        ];
        println!("{} providers", env.snap.providers.len());
        for q in queries {
            let req = env.q(q);
            let runs = 50;
            let mut best = std::time::Duration::MAX;
            let start = std::time::Instant::now();
            let mut c = Candidates::default();
            for _ in 0..runs {
                let t = std::time::Instant::now();
                c = compute(&env.snap, &req);
                best = best.min(t.elapsed());
            }
            let avg = start.elapsed() / runs;
            println!(
                "{q}\n    {} requests, {} summaries: avg {avg:?}, best {best:?}",
                c.allocation_requests.len(),
                c.summaries.len()
            );
        }
    }
}
