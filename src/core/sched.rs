// SPDX-License-Identifier: GPL-2.0

//! The compute scheduler's policy: how one period of one physical GPU is
//! divided between the contexts that share it.
//!
//! The lever (see `docs/compute-levers.md`) is each context's doorbell: a
//! context can submit work only while its gate is open. Every period the
//! kernel glue asks [`plan`] for each context's open time, then opens the
//! gates one after the other (time division: at most one context of a GPU
//! is open at a time, so the split does not depend on the hardware's own
//! timeslices) and holds each context's submitters while its gate is shut.
//!
//! Rules, in order:
//!
//! 1. Only contexts with work take part ([`Demand::busy`]: they rang their
//!    doorbell in the last period, or a submitter of theirs is held now).
//!    Idle capacity goes to whoever has work (work-conserving).
//! 2. While any busy context has [`Priority::High`], normal ones get nothing.
//! 3. The period is split in proportion to the weights, and no context gets
//!    more than its hard cap (`limit_pct` of the period, even alone); what a
//!    capped context cannot take is shared again among the others (water
//!    filling).
//!
//! Everything is integer µs; rounding never hands out more than the period.

/// Highest accepted weight.
pub const MAX_WEIGHT: u32 = 1000;

/// Scheduling priority of a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Shares the GPU by weight.
    Normal,
    /// Holds normal contexts back while it has work.
    High,
}

impl Priority {
    /// Parses the sysfs spelling (`high` or `normal`, one trailing newline
    /// allowed).
    pub fn parse(s: &[u8]) -> Option<Self> {
        let s = s.strip_suffix(b"\n").unwrap_or(s);
        match s {
            b"high" => Some(Self::High),
            b"normal" => Some(Self::Normal),
            _ => None,
        }
    }

    /// The sysfs spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Normal => "normal",
        }
    }
}

/// A context's compute settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Hard cap, percent of the GPU (1..=100).
    pub limit_pct: u32,
    /// Share among busy contexts (1..=[`MAX_WEIGHT`]).
    pub weight: u32,
    /// Priority.
    pub priority: Priority,
}

impl Params {
    /// No cap, weight 1, normal priority.
    pub const DEFAULT: Self = Self {
        limit_pct: 100,
        weight: 1,
        priority: Priority::Normal,
    };

    /// Whether the values are in range.
    pub const fn valid(&self) -> bool {
        self.limit_pct >= 1
            && self.limit_pct <= 100
            && self.weight >= 1
            && self.weight <= MAX_WEIGHT
    }
}

/// Parses a percentage for `compute_limit_pct` (1..=100).
pub fn parse_pct(s: &[u8]) -> Option<u32> {
    parse_u32(s).filter(|v| (1..=100).contains(v))
}

/// Parses a weight for `compute_weight` (1..=[`MAX_WEIGHT`]).
pub fn parse_weight(s: &[u8]) -> Option<u32> {
    parse_u32(s).filter(|v| (1..=MAX_WEIGHT).contains(v))
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// One context's input to a period's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// Its settings.
    pub params: Params,
    /// Whether it has work (rang its doorbell last period, or is held now).
    pub busy: bool,
}

/// Open time per context for one period of `period_us`: `out[i]` is the
/// µs context `inputs[i]` may submit. `out` must be as long as `inputs`
/// (extra entries are left alone; missing ones, and contexts beyond
/// [`MAX_PER_GPU`], are not planned). Returns
/// the total handed out (never more than `period_us`).
pub fn plan(period_us: u64, inputs: &[Demand], out: &mut [u64]) -> u64 {
    let n = inputs.len().min(out.len()).min(MAX_PER_GPU);
    let (inputs, out) = (&inputs[..n], &mut out[..n]);
    let high = inputs
        .iter()
        .any(|d| d.busy && d.params.priority == Priority::High);
    let eligible =
        |d: &Demand| d.busy && d.params.valid() && (!high || d.params.priority == Priority::High);
    let cap = |d: &Demand| period_us * u64::from(d.params.limit_pct) / 100;
    for o in out.iter_mut() {
        *o = 0;
    }
    // Water filling: each round shares what is left among the unfrozen
    // eligible contexts by weight; a context whose share reaches its cap is
    // frozen at the cap and the round is redone without it. At most n
    // rounds, each O(n).
    let mut frozen_total: u64 = 0;
    let mut is_frozen = FrozenSet::new();
    loop {
        let left = period_us - frozen_total;
        let weights: u64 = inputs
            .iter()
            .enumerate()
            .filter(|(i, d)| eligible(d) && !is_frozen.get(*i))
            .map(|(_, d)| u64::from(d.params.weight))
            .sum();
        if weights == 0 {
            break;
        }
        let mut froze_one = false;
        for (i, d) in inputs.iter().enumerate() {
            if !eligible(d) || is_frozen.get(i) {
                continue;
            }
            let share = left * u64::from(d.params.weight) / weights;
            if share >= cap(d) {
                out[i] = cap(d);
                frozen_total += cap(d);
                is_frozen.set(i);
                froze_one = true;
            }
        }
        if !froze_one {
            for (i, d) in inputs.iter().enumerate() {
                if eligible(d) && !is_frozen.get(i) {
                    out[i] = left * u64::from(d.params.weight) / weights;
                }
            }
            break;
        }
    }
    out.iter().sum()
}

/// Turns a plan's shares into gate close times: every context with a share
/// opens at the start of the period and closes at `close[i]` µs, the k-th
/// smallest share after the (k-1)-th. While m >= 2 contexts are open the
/// engine serves each about (1 - loss)/m of the time (its own round robin
/// with equal timeslices, less what switching between them costs:
/// `loss_pct`, 18 on the H100 with CUDA's 1 ms timeslices, lever study); a
/// context open alone gets all of it. With the shares sorted s1 <= ... <=
/// sn, the phase in which m = n - k + 1 are open lasts (s_k - s_(k-1)) /
/// rate(m), so each gets exactly its share. That can take longer than the
/// period: then every share is scaled down by one factor (the split stays
/// in proportion; time lost to switching is nobody's) and `shares` is
/// updated in place. The last close is never past `period_us`. This keeps
/// the engine busy whenever anybody may run (a context that cannot use
/// its part leaves it to the others still open), where one-after-the-other
/// windows would leave it idle whenever the window's owner has too little
/// queued. Contexts with no share get 0. `close` must be as long as
/// `shares`.
pub fn staircase(period_us: u64, loss_pct: u32, shares: &mut [u64], close: &mut [u64]) {
    let n = shares.len().min(close.len()).min(MAX_PER_GPU);
    let loss = u64::from(loss_pct.min(90));
    // Phase length for `d` µs of service each with `m` open (rounded up).
    let phase = |d: u64, m: u64| {
        if m >= 2 {
            (d * m * 100).div_ceil(100 - loss)
        } else {
            d
        }
    };
    let mut end = fill_stairs(&shares[..n], &mut close[..n], &phase);
    if end > period_us {
        for s in shares[..n].iter_mut() {
            // Both below 2^32 (a period is at most 1000 s): no overflow.
            *s = s.saturating_mul(period_us) / end;
        }
        end = fill_stairs(&shares[..n], &mut close[..n], &phase);
        // Rounding up in `phase` may still overshoot by a few µs.
        if end > period_us {
            for c in close[..n].iter_mut() {
                *c = (*c).min(period_us);
            }
        }
    }
}

/// The close times of [`staircase`] for `shares` as they are, with phase
/// lengths from `phase(service, open)`; returns the last close.
fn fill_stairs(shares: &[u64], close: &mut [u64], phase: &impl Fn(u64, u64) -> u64) -> u64 {
    let n = shares.len();
    let mut done = FrozenSet::new();
    let open = shares.iter().filter(|s| **s > 0).count() as u64;
    let (mut t, mut prev, mut k) = (0u64, 0u64, 0u64);
    for c in close.iter_mut() {
        *c = 0;
    }
    // Repeatedly take the smallest remaining share (n is small; no sort
    // without allocation).
    while k < open {
        let mut best: Option<usize> = None;
        for i in 0..n {
            if shares[i] > 0 && !done.get(i) && best.is_none_or(|b| shares[i] < shares[b]) {
                best = Some(i);
            }
        }
        let Some(i) = best else { break };
        done.set(i);
        t += phase(shares[i] - prev, open - k);
        prev = shares[i];
        close[i] = t;
        k += 1;
    }
    t
}

/// A set of indices below [`MAX_PER_GPU`], without allocation.
struct FrozenSet([u64; 4]);

/// Most contexts one GPU's plan considers.
pub const MAX_PER_GPU: usize = 256;

impl FrozenSet {
    const CAP: usize = MAX_PER_GPU;
    const fn new() -> Self {
        Self([0; 4])
    }
    fn get(&self, i: usize) -> bool {
        i < Self::CAP && self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: usize) {
        if i < Self::CAP {
            self.0[i / 64] |= 1 << (i % 64);
        }
    }
}

/// The window arithmetic of one period, beside the plan: what the kernel's
/// scheduler thread computes between the plan and the gates. All µs.
pub mod window {
    /// The most a context's debt (time its windows were owed, or got too
    /// much, through the scheduler's own lateness) may reach either way: a
    /// quarter of the period, so a long stall is not made up in a burst.
    pub const fn max_debt(period_us: u64) -> i64 {
        (period_us / 4) as i64
    }

    /// The length of a window the plan gave `planned` µs, with the debt
    /// `debt` applied (clamped to [`max_debt`]): never below half the plan
    /// (a window of 0 would read as "no share") nor above the period.
    pub fn len(planned: u64, debt: i64, period_us: u64) -> u64 {
        let m = max_debt(period_us);
        let d = debt.clamp(-m, m);
        let lo = (planned / 2).max(1).min(period_us) as i64;
        (planned.min(period_us) as i64)
            .saturating_add(d)
            .clamp(lo, period_us as i64) as u64
    }

    /// Whether a window takes part in the debt (it is busy, planned, and
    /// shorter than the period); otherwise its debt is forgotten.
    pub fn owes(busy: bool, planned: u64, period_us: u64) -> bool {
        busy && planned > 0 && planned < period_us
    }

    /// The debt after a period that really lasted `real` µs, in which a
    /// window planned `planned` µs was open `open_us`: it was owed its
    /// planned fraction of the real time. Clamped to [`max_debt`].
    pub fn settle(debt: i64, planned: u64, real: u64, open_us: u64, period_us: u64) -> i64 {
        let m = max_debt(period_us);
        let owed = (planned.saturating_mul(real) / period_us.max(1)) as i64 - open_us as i64;
        debt.saturating_add(owed).clamp(-m, m)
    }

    /// How early a held context's gate opens before its channels resume:
    /// twice the measured wake latency of its submitters plus `margin`, at
    /// most a tenth of the period and never past the period's end for a
    /// window of `len`. 0 when no latency was measured.
    pub fn lead(wake_us: u64, margin_us: u64, period_us: u64, len: u64) -> u64 {
        if wake_us == 0 {
            return 0;
        }
        wake_us
            .saturating_mul(2)
            .saturating_add(margin_us)
            .min(period_us / 10)
            .min(period_us.saturating_sub(len))
    }

    /// How long before a window's end its shut starts: the measured time a
    /// stop of its channels takes (`stop_us`), at most half the window.
    pub fn shut_cost(stop_us: u64, len: u64) -> u64 {
        stop_us.min(len / 2)
    }

    /// When a window that started `started` µs into the period shuts:
    /// `len` later less the shut's cost, never past the period; `None` for
    /// a window the plan lets run to the period's end (`lead + len` reaches
    /// it), which stays open.
    pub fn end(started: u64, len: u64, cost: u64, lead: u64, period_us: u64) -> Option<u64> {
        if lead.saturating_add(len) < period_us {
            Some(
                started
                    .saturating_add(len)
                    .saturating_sub(cost)
                    .min(period_us),
            )
        } else {
            None
        }
    }

    /// What a window of `len` that ran `ran` of it charges of its `share`
    /// (its planned part of the period): proportional, never more than the
    /// share.
    pub fn charge(share: u64, ran: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        (share.saturating_mul(ran.min(len)) / len).min(share)
    }

    /// A moving average of latencies (new sample weighted 1/4; the first
    /// sample, over 0, is taken as it is).
    pub fn average(old: u64, sample: u64) -> u64 {
        if old == 0 {
            sample
        } else {
            old.saturating_mul(3).saturating_add(sample) / 4
        }
    }
}

/// One vector of [`PLAN_VECTORS`]: a period, its contexts as
/// `(limit_pct, weight, high, busy)`, and the open time each must get.
pub type PlanVector = (u64, &'static [(u32, u32, bool, bool)], &'static [u64]);

/// Shared test vectors of [`plan`] (run by the host tests and by KUnit in
/// the module).
pub const PLAN_VECTORS: &[PlanVector] = &[
    (50_000, &[(30, 1, false, true)], &[15_000]),
    (
        50_000,
        &[(100, 1, false, true), (100, 3, false, true)],
        &[12_500, 37_500],
    ),
    (
        80_000,
        &[
            (100, 1, false, true),
            (100, 1, false, true),
            (100, 2, false, true),
            (100, 4, false, true),
        ],
        &[10_000, 10_000, 20_000, 40_000],
    ),
    (
        50_000,
        &[(100, 1, false, false), (100, 3, false, true)],
        &[0, 50_000],
    ),
    (
        50_000,
        &[(20, 1, false, true), (100, 1, false, true)],
        &[10_000, 40_000],
    ),
    (
        50_000,
        &[(30, 1, false, true), (40, 5, false, true)],
        &[15_000, 20_000],
    ),
    (
        50_000,
        &[(100, 9, false, true), (100, 1, true, true)],
        &[0, 50_000],
    ),
    (
        50_000,
        &[(100, 1, false, true), (100, 1, true, false)],
        &[50_000, 0],
    ),
    (
        50_000,
        &[(100, 1, false, true), (50, 1, true, true)],
        &[0, 25_000],
    ),
];

/// Runs [`PLAN_VECTORS`] through [`plan`]; the index of the first vector
/// that does not give its expected shares, if any.
pub fn check_plan_vectors() -> Option<usize> {
    let mut demands = [Demand {
        params: Params {
            limit_pct: 100,
            weight: 1,
            priority: Priority::Normal,
        },
        busy: false,
    }; 4];
    for (i, (period, ins, want)) in PLAN_VECTORS.iter().enumerate() {
        let n = ins.len();
        for (d, &(limit_pct, weight, high, busy)) in demands.iter_mut().zip(ins.iter()) {
            let priority = if high {
                Priority::High
            } else {
                Priority::Normal
            };
            *d = Demand {
                params: Params {
                    limit_pct,
                    weight,
                    priority,
                },
                busy,
            };
        }
        let mut out = [u64::MAX; 4];
        let total = plan(*period, &demands[..n], &mut out[..n]);
        if out[..n] != want[..] || total != want.iter().sum::<u64>() {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(limit_pct: u32, weight: u32, high: bool, busy: bool) -> Demand {
        let priority = if high {
            Priority::High
        } else {
            Priority::Normal
        };
        Demand {
            params: Params {
                limit_pct,
                weight,
                priority,
            },
            busy,
        }
    }

    fn run(period: u64, ins: &[Demand]) -> Vec<u64> {
        let mut out = vec![u64::MAX; ins.len()];
        let total = plan(period, ins, &mut out);
        assert_eq!(total, out.iter().sum::<u64>());
        out
    }

    #[test]
    fn plan_vectors() {
        assert_eq!(check_plan_vectors(), None);
    }

    #[test]
    fn alone_capped() {
        for pct in [10, 30, 50, 70, 100] {
            assert_eq!(
                run(50_000, &[d(pct, 1, false, true)]),
                vec![500 * u64::from(pct)]
            );
        }
    }

    #[test]
    fn weights_split() {
        assert_eq!(
            run(50_000, &[d(100, 1, false, true), d(100, 3, false, true)]),
            vec![12_500, 37_500]
        );
        assert_eq!(
            run(
                80_000,
                &[
                    d(100, 1, false, true),
                    d(100, 1, false, true),
                    d(100, 2, false, true),
                    d(100, 4, false, true)
                ]
            ),
            vec![10_000, 10_000, 20_000, 40_000]
        );
    }

    #[test]
    fn idle_gets_nothing_and_others_absorb() {
        assert_eq!(
            run(50_000, &[d(100, 1, false, false), d(100, 3, false, true)]),
            vec![0, 50_000]
        );
    }

    #[test]
    fn cap_spills_to_others() {
        // 1:1, but the first may have only 20 %: the second takes the rest.
        assert_eq!(
            run(50_000, &[d(20, 1, false, true), d(100, 1, false, true)]),
            vec![10_000, 40_000]
        );
        // Both capped below a full GPU: the rest stays idle.
        assert_eq!(
            run(50_000, &[d(30, 1, false, true), d(40, 5, false, true)]),
            vec![15_000, 20_000]
        );
    }

    #[test]
    fn high_priority_holds_normal_back() {
        assert_eq!(
            run(50_000, &[d(100, 9, false, true), d(100, 1, true, true)]),
            vec![0, 50_000]
        );
        // An idle high context holds nobody back.
        assert_eq!(
            run(50_000, &[d(100, 1, false, true), d(100, 1, true, false)]),
            vec![50_000, 0]
        );
        // A capped high context: normal ones still wait (the rule is strict).
        assert_eq!(
            run(50_000, &[d(100, 1, false, true), d(50, 1, true, true)]),
            vec![0, 25_000]
        );
    }

    fn stairs(period: u64, loss: u32, shares: &[u64]) -> (Vec<u64>, Vec<u64>) {
        let mut s = shares.to_vec();
        let mut c = vec![u64::MAX; s.len()];
        staircase(period, loss, &mut s, &mut c);
        (s, c)
    }

    #[test]
    fn staircase_close_times() {
        // No switching loss: the shares add up to the last close.
        assert_eq!(stairs(50_000, 0, &[12_500, 37_500]).1, [25_000, 50_000]);
        assert_eq!(
            stairs(50_000, 0, &[6_250, 6_250, 12_500, 25_000]).1,
            [25_000, 25_000, 37_500, 50_000]
        );
        assert_eq!(
            stairs(50_000, 0, &[15_000, 0, 20_000]).1,
            [30_000, 0, 35_000]
        );
        assert_eq!(stairs(50_000, 0, &[15_000]).1, [15_000]);
        // 20 % lost while two share: 1:3 needs 12.5 / 0.4 = 31.25 ms shared
        // and 25 ms alone; scaled by 50 / 56.25 to fit the period.
        let (s, c) = stairs(50_000, 20, &[12_500, 37_500]);
        assert_eq!(s, [11_111, 33_333]);
        assert_eq!(c, [27_778, 50_000]);
        // Alone, nothing is lost: a cap's window is its share.
        assert_eq!(stairs(50_000, 20, &[5_000]), (vec![5_000], vec![5_000]));
        // Fits without scaling: shares and the lone close stay.
        let (s, c) = stairs(50_000, 20, &[5_000, 10_000]);
        assert_eq!(s, [5_000, 10_000]);
        assert_eq!(c, [12_500, 17_500]);
    }

    proptest! {
        #[test]
        fn staircase_gives_each_its_share(
            period in 1u64..1_000_000,
            loss in 0u32..=40,
            ins in proptest::collection::vec(demand(), 0..30),
        ) {
            let planned = run(period, &ins);
            let mut out = planned.clone();
            let mut close = vec![0u64; out.len()];
            staircase(period, loss, &mut out, &mut close);
            // Never past the period; a share of 0 stays shut; shares are
            // only ever scaled down, all by one factor.
            prop_assert!(close.iter().all(|c| *c <= period));
            for (o, p) in out.iter().zip(&planned) {
                prop_assert!(o <= p && (*p > 0 || *o == 0));
            }
            let big = planned.iter().copied().max().unwrap_or(0);
            if big > 1000 {
                let i = planned.iter().position(|p| *p == big).unwrap();
                let f = out[i] as f64 / big as f64;
                for (o, p) in out.iter().zip(&planned) {
                    prop_assert!((*o as f64 - *p as f64 * f).abs() <= 2.0, "{} vs {} x {}", o, p, f);
                }
            }
            // Simulate the engine: while m open, each gets (1 - loss)/m of
            // the time (all of it alone): each gets its (scaled) share up
            // to rounding.
            let mut got = vec![0f64; out.len()];
            let mut edges: Vec<u64> = close.iter().copied().filter(|c| *c > 0).collect();
            edges.sort();
            edges.dedup();
            let mut t0 = 0u64;
            for e in edges {
                let open: Vec<usize> = (0..out.len()).filter(|i| close[*i] >= e && close[*i] > 0).collect();
                let rate = if open.len() >= 2 { (100 - loss) as f64 / 100.0 / open.len() as f64 } else { 1.0 };
                for i in &open {
                    got[*i] += (e - t0) as f64 * rate;
                }
                t0 = e;
            }
            for (g, o) in got.iter().zip(&out) {
                prop_assert!((g - *o as f64).abs() <= 2.0 + *o as f64 * 1e-6, "{} vs {}", g, o);
            }
        }
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_pct(b"30\n"), Some(30));
        assert_eq!(parse_pct(b"0"), None);
        assert_eq!(parse_pct(b"101"), None);
        assert_eq!(parse_pct(b""), None);
        assert_eq!(parse_pct(b"3x"), None);
        assert_eq!(parse_weight(b"1000"), Some(1000));
        assert_eq!(parse_weight(b"1001"), None);
        assert_eq!(parse_weight(b"99999999999"), None);
        assert_eq!(Priority::parse(b"high\n"), Some(Priority::High));
        assert_eq!(Priority::parse(b"normal"), Some(Priority::Normal));
        assert_eq!(Priority::parse(b"urgent"), None);
    }

    fn demand() -> impl Strategy<Value = Demand> {
        (1u32..=100, 1u32..=MAX_WEIGHT, any::<bool>(), any::<bool>())
            .prop_map(|(l, w, h, b)| d(l, w, h, b))
    }

    proptest! {
        #[test]
        fn invariants(period in 1u64..1_000_000, ins in proptest::collection::vec(demand(), 0..40)) {
            let out = run(period, &ins);
            let high = ins.iter().any(|x| x.busy && x.params.priority == Priority::High);
            // Never more than the period, nobody above its cap, idle and
            // held-back contexts get nothing.
            prop_assert!(out.iter().sum::<u64>() <= period);
            for (x, o) in ins.iter().zip(&out) {
                prop_assert!(*o <= period * u64::from(x.params.limit_pct) / 100);
                if !x.busy || (high && x.params.priority == Priority::Normal) {
                    prop_assert_eq!(*o, 0);
                }
            }
            // Work-conserving: if some eligible context is below its cap,
            // the period is handed out up to rounding (one µs per context).
            let elig: Vec<_> = ins.iter().zip(&out).filter(|(x, _)| x.busy && (!high || x.params.priority == Priority::High)).collect();
            let below_cap = elig.iter().any(|(x, o)| **o + (elig.len() as u64) < period * u64::from(x.params.limit_pct) / 100);
            if below_cap {
                prop_assert!(out.iter().sum::<u64>() + elig.len() as u64 >= period);
            }
            // Proportional among the uncapped: w_j * o_i ≈ w_i * o_j.
            for (a, oa) in &elig {
                for (b, ob) in &elig {
                    let capa = period * u64::from(a.params.limit_pct) / 100;
                    let capb = period * u64::from(b.params.limit_pct) / 100;
                    if **oa < capa && **ob < capb {
                        let l = u128::from(**oa) * u128::from(b.params.weight);
                        let r = u128::from(**ob) * u128::from(a.params.weight);
                        let tol = u128::from(a.params.weight.max(b.params.weight)) * 2;
                        prop_assert!(l.abs_diff(r) <= tol * u128::from(MAX_WEIGHT), "{} {} {:?} {:?}", oa, ob, a, b);
                    }
                }
            }
        }
    }
    #[test]
    fn window_arithmetic() {
        use super::window::*;
        let p = 10_000;
        assert_eq!(max_debt(p), 2500);
        assert_eq!(len(3000, 0, p), 3000);
        assert_eq!(len(3000, 1000, p), 4000);
        assert_eq!(
            len(3000, 99_999, p),
            5500,
            "debt clamped to a quarter period"
        );
        assert_eq!(len(3000, -99_999, p), 1500, "never below half the plan");
        assert_eq!(len(9000, 2500, p), p, "never above the period");
        assert_eq!(len(1, -5, p), 1);
        assert!(
            owes(true, 3000, p) && !owes(false, 3000, p) && !owes(true, p, p) && !owes(true, 0, p)
        );
        assert_eq!(settle(0, 3000, 11_000, 3000, p), 300);
        assert_eq!(settle(2400, 3000, 20_000, 0, p), 2500);
        assert_eq!(lead(0, 200, p, 3000), 0);
        assert_eq!(lead(100, 200, p, 3000), 400);
        assert_eq!(lead(5000, 200, p, 3000), 1000);
        assert_eq!(lead(5000, 200, p, 9500), 500);
        assert_eq!(shut_cost(700, 3000), 700);
        assert_eq!(shut_cost(7000, 3000), 1500);
        assert_eq!(end(100, 3000, 700, 0, p), Some(2400));
        assert_eq!(end(9000, 3000, 0, 0, p), Some(p));
        assert_eq!(end(0, 9000, 0, 1000, p), None);
        assert_eq!(charge(3000, 1500, 3000), 1500);
        assert_eq!(charge(3000, 9000, 3000), 3000);
        assert_eq!(charge(3000, 5, 0), 0);
        assert_eq!(average(0, 80), 80);
        assert_eq!(average(80, 0), 60);
    }

    proptest! {
        #[test]
        fn windows_stay_in_bounds(planned in 0u64..2_000_000, debt in any::<i64>(), period in 1u64..1_000_000,
                                  real in 0u64..4_000_000, open in 0u64..4_000_000, share in 0u64..1_000_000,
                                  ran in any::<u64>(), wake in any::<u64>()) {
            use super::window::*;
            let l = len(planned, debt, period);
            prop_assert!(l >= 1 && l <= period);
            if planned > 0 && planned <= period {
                prop_assert!(l >= (planned / 2).max(1));
                prop_assert!(l as i64 <= planned as i64 + max_debt(period));
            }
            let d = settle(debt, planned, real, open, period);
            prop_assert!(d.abs() <= max_debt(period));
            prop_assert!(charge(share, ran, l) <= share);
            let ld = lead(wake, 200, period, l);
            prop_assert!(ld <= period / 10 && ld + l <= period);
            if let Some(e) = end(0, l, shut_cost(wake, l), ld, period) {
                prop_assert!(e <= period);
            }
        }
    }
}
