"""The project's registry of claims: every id of ../shared/CLAIMS.md with its statement and source.

Sources: 000 = "Associative Memories as a Building Block in Transformers" (Bietti, 2025);
001 = "Associative Memory with Heavy-Tailed Data" (Bietti, Cabannes, Dohmatob, Bottou, Jegou).
"""

from __future__ import annotations

S000 = "000 (Associative Memories as a Building Block in Transformers)"
S001 = "001 (Associative Memory with Heavy-Tailed Data)"

FAMILIES = {
    "AM": "Associative memories",
    "GM": "Gradients as memories",
    "SL": "Scaling laws with heavy-tailed data",
    "OD": "Optimisation and the F(n) dynamics",
    "GD": "Gradient descent on associative memories",
    "CP": "Capacity beyond one matrix",
    "TF": "Transformers on the bigram task",
    "FR": "Factual recall",
}

CLAIMS: dict[str, tuple[str, str]] = {
    "AM1": (
        "Random N(0,1/d) embeddings are near-orthonormal: ||e|| ~ 1, e^T e' = O(1/sqrt d); a random N(0,1/d) "
        "matrix remaps them: ||W u|| ~ 1, u^T W u = O(1/sqrt d).",
        f"{S000}, 'Weights as associative memories', 'Random embeddings in high dimension'",
    ),
    "AM2": (
        "Scores gamma_{z,y} = u_y^T W e_z have mean 1{y = f*(z)} and variance <~ |{f*(z') = y}|/d + |{f*(z') != "
        "y}|/d^2.",
        f"{S000}, 'Capacity: Intuition'",
    ),
    "AM3": (
        "Injective f*: a d x d memory stores up to N ~ d^2 associations (up to log factors).",
        f"{S000}, 'Capacity: Intuition'",
    ),
    "AM4": ("f*(z) = z mod 2: a d x d memory stores up to N ~ d associations.", f"{S000}, 'Capacity: Intuition'"),
    "GM1": (
        "Lemma: grad L(W) = sum_k E_z[(p_W(k|z) - p(k|z)) u_k e_z^T] (exact identity).",
        f"{S000}, 'Gradient associative memories'",
    ),
    "GM2": (
        "One population gradient step from W = 0, z uniform: u_k^T W_1 e_z ~ (eta/N)(1{f*(z)=k} - 1/N); argmax of "
        "W_1 has near-perfect accuracy.",
        f"{S000}, 'Gradient associative memories'",
    ),
    "GM3": (
        "Noisy-input lemma: grad L = sum_k p(y=k) u_k (mu_hat_k - mu_k)^T (exact); for x = e_y + p_t, u_k^T W_1 "
        "(e_y + p_t) ~ (eta/N) 1{y=k} + O(1/N^2).",
        f"{S000}, 'Key idea: gradient associative memories with noisy inputs'",
    ),
    "GM4": (
        "One step of SGD with a large batch gives q(z) ~ p(z).",
        f"{S000}, 'Scaling laws with optimization algorithms'",
    ),
    "SL1": (
        "Infinite memory (Hutter): error <~ T^-(alpha-1)/alpha; finite-sample term E(q_T) - E(q_inf) = sum_x p(x) "
        "e^{-T p(x)}.",
        f"{S000}, 'Setup with heavy-tailed data'; {S001}, 'Finite-sample complexity'",
    ),
    "SL2": (
        "q = p (one large-batch step): error ~ d^-(alpha-1)/(2 alpha) + T^-1+1/alpha.",
        f"{S001}, 'Instantiation for heavy tailed data'",
    ),
    "SL3": (
        "q = 1{x <= d/c}: error ~ d^-(alpha-1) + T^-1+1/alpha, optimal scaling with random embeddings.",
        f"{S001}, 'Instantiation for heavy tailed data'",
    ),
    "SL4": (
        "q = 1{z seen at least s times} (or the top d/c seen tokens): n^-(alpha-1)/alpha + d^-(alpha-1).",
        f"{S000}, 'Scaling laws with finite capacity'",
    ),
    "SL5": (
        "q = counts sum_i 1{z = z_i}: n^-(alpha-1)/alpha + d^-(alpha-1)/(2 alpha).",
        f"{S000}, 'Scaling laws with finite capacity'",
    ),
    "SL6": (
        "q = 1{z in S_n} with d >> N: n^-(alpha-1)/alpha + d^-k for any k; with d small, storing every seen token "
        "overflows the memory.",
        f"{S000}, 'Scaling laws with finite capacity'",
    ),
    "SL7": (
        "Approximation guarantee: E_{e,u}[error] = p({x : q(x) d < c ||q||_2^2}) (as written; the SL2 exponent "
        "follows from q(x)^2 d < c ||q||^2).",
        f"{S001}, 'Approximation guarantees'",
    ),
    "SL8": (
        "Can store at most d memories (approximation error d^-alpha+1); q = 1 is best if we have enough capacity.",
        f"{S000}, 'Scaling laws with finite capacity'",
    ),
    "OD1": (
        "With quasi-orthogonal updates, q_T(x) = F(#{t : x_t = x}), F(n) = f o ... o f(0), f(x) = x + gamma/(1 + "
        "M^-1 exp(x)).",
        f"{S001}, 'Training dynamics'",
    ),
    "OD2": (
        "The approximation matches practice and predicts q_T(x) for different learning rates.",
        f"{S001}, 'Training dynamic'",
    ),
    "OD3": (
        "Small gamma gives q ∝ p; large gamma a flatter q; F grows linearly (n gamma) then logarithmically "
        "(log(gamma M n)).",
        f"{S001}, 'Training dynamic'",
    ),
    "OD4": (
        "Large learning rates are better: they saturate memory faster; sporadic erasing is harmless.",
        f"{S001}, final slides",
    ),
    "OD5": ("Small batches are better at a fixed number of samples.", f"{S001}, final slides"),
    "OD6": (
        "Adam works best (rescales updates like large learning rates); sign and normalised GD too.",
        f"{S001}, final slides",
    ),
    "OD7": ("Layer norm helps (stability plus a clipping effect).", f"{S001}, final slides"),
    "OD8": (
        "SGD with batch size one and a large step size, d >> N: q(z) ~ 1.",
        f"{S000}, 'Scaling laws with optimization algorithms'",
    ),
    "OD9": (
        "For d <= N, smaller step sizes can help later in training.",
        f"{S000}, 'Scaling laws with optimization algorithms'",
    ),
    "OD10": (
        "Large learning rates risk erasing past memories; small ones are too conservative.",
        f"{S001}, final slides",
    ),
    "GD1": (
        "Orthogonal embeddings: margins grow logarithmically in t for any step size.",
        f"{S000}, 'Optimization with imbalance and small capacity'",
    ),
    "GD2": (
        "Correlated embeddings + imbalance: oscillatory regimes (loss spikes past the edge of stability 2/lambda_max).",
        f"{S000}, 'Optimization with imbalance and small capacity'",
    ),
    "GD3": (
        "Large step sizes reach perfect accuracy faster despite oscillations.",
        f"{S000}, 'Optimization with imbalance and small capacity'",
    ),
    "GD4": (
        "Over-optimisation can hurt (0-1 error rises while the cross-entropy falls) in under-parameterised settings.",
        f"{S000}, 'Optimization with imbalance and small capacity'",
    ),
    "CP1": (
        "Low rank W = W1^T W2, m <= d: stores N ~ m d (random W1, one step on W2).",
        f"{S000}, 'Capacity ~ number of parameters'",
    ),
    "CP2": (
        "MLP argmax_y u_y^T W1 sigma(W2^T e_z): stores N ~ m d for any width m.",
        f"{S000}, 'Capacity ~ number of parameters'",
    ),
    "CP3": ("Multi-input MLP on e_{z1} + e~_{z2}: also N ~ m d.", f"{S000}, 'Capacity ~ number of parameters'"),
    "CP4": (
        "A non-linearity (ReLU(e_x^T e - eta) scoring) stores far more than the linear memory of the same d.",
        f"{S001}, last slide",
    ),
    "TF1": (
        "The bigram data model: triggers, per-sequence outputs, Markov chain on global bigrams except after a trigger.",
        f"{S000}, 'The bigram data model for in-context reasoning'",
    ),
    "TF2": (
        "A 1-layer transformer fails (~55% on in-context outputs); 2 layers succeed (~99%).",
        f"{S000}, 'Transformers on the bigram task'",
    ),
    "TF3": (
        "The associative-memory construction of the induction head solves the task.",
        f"{S000}, 'Induction head with associative memories'",
    ),
    "TF4": (
        "Memory-recall probes show the order W_OV^2, then W_KQ^2, then W_KQ^1; joint learning is faster.",
        f"{S000}, 'Empirically probing the dynamics'",
    ),
    "TF5": (
        "Three population gradient steps (W_OV^2, then W_KQ^2, then W_KQ^1) recover the memories.",
        f"{S000}, 'Gradient steps for the bigram task'",
    ),
    "TF6": (
        "Global bigrams are learned much faster than the induction head (O(1) vs O(N) samples).",
        f"{S000}, 'Global vs in-context associations'",
    ),
    "FR1": (
        "Attention + MLP succeeds with H d_h >~ S + R and m d >~ S R.",
        f"{S000}, 'How many parameters do we need?'",
    ),
    "FR2": (
        "Attention only succeeds with d >~ R + A_max and H d_h >~ S.",
        f"{S000}, 'How many parameters do we need?'",
    ),
    "FR3": ("Total parameters scale with the number of facts S R.", f"{S000}, 'How many parameters do we need?'"),
    "FR4": (
        "Linear attention, one-hot embeddings, gradient flow: global convergence to zero loss, with an "
        "intermediate phase predicting p(a|r) (hallucination).",
        f"{S000}, 'Training dynamics' (factual recall)",
    ),
}

VERDICTS = ("reproduced", "refuted", "inconclusive")


def family(claim: str) -> str:
    return claim.rstrip("0123456789")


# the talks (the specification) and the papers behind each family, for the report's source lines
TALKS = {
    "000": 'A. Bietti, "Associative Memories as a Building Block in Transformers", talk, Inria Sierra, January 2025',
    "001": (
        'A. Bietti, V. Cabannes, E. Dohmatob, L. Bottou, H. Jégou, "Associative Memory with Heavy-Tailed Data", talk'
    ),
}
_BIRTH = (
    'A. Bietti, V. Cabannes, D. Bouchacourt, H. Jégou, L. Bottou, "Birth of a Transformer: A Memory Viewpoint", '
    "NeurIPS 2023, arXiv:2306.00802"
)
_SCALING = 'V. Cabannes, E. Dohmatob, A. Bietti, "Scaling Laws for Associative Memories", ICLR 2024, arXiv:2310.02984'
_GD = (
    'V. Cabannes, B. Simsek, A. Bietti, "Learning Associative Memories with Gradient Descent", ICML 2024, '
    "arXiv:2402.18724"
)
_FACTUAL = (
    'E. Nichani, J. D. Lee, A. Bietti, "Understanding Factual Recall in Transformers via Associative Memories", '
    "2024, arXiv:2412.06538"
)
PAPERS = {
    "AM": (_BIRTH, _SCALING),
    "GM": (_BIRTH,),
    "SL": (_SCALING,),
    "OD": (_SCALING, _GD),
    "GD": (_GD,),
    "CP": (_FACTUAL,),
    "TF": (_BIRTH,),
    "FR": (_FACTUAL,),
}


# Why a claim's verdict differs between the fast and the full tier (checks/report.py's fast-versus-full table):
# more power, a finite-size effect, a real change, or different sub-checks deciding. Written from the two
# reports' numbers; a claim whose verdicts differ and that has no entry here says "not yet explained".
SCALE_NOTES: dict[str, str] = {
    "AM3": "full tier: 947 of its 967 (d, seed) rows computed on this machine, the 20 at d = 1024 (about 11 CPU-hours "
    "here) on one H200 with the same code (rows of both devices agree to 1e-4: performance.md section 7)",
    "SL3": "the full tier adds alpha = 1.5 and 3 (the fast tier runs alpha = 2 only; alpha 1.5 and 2 reproduced at "
    "full scale): at alpha = 3 the slope -1.966 [-1.985, -1.947] (20 seeds, d = 64..2048, N = 10^5) lies between "
    "the asymptote -2 and the finite-N Gaussian theory's -1.597 on the same grid, so the criterion fixed in "
    "advance says inconclusive; the data follow (1 - 1/M) times the tail beyond d/8 down to 5e-6 at d = 2048, "
    "while the Gaussian theory flattens above d = 512 (near 2e-5: recall failures it predicts that do not occur), "
    "so here the finite-N prediction, not the claim, is off (more power and a new exponent, not a change of the "
    "alpha = 2 finding)",
    "OD3": "a finite-size effect of the fast tier: its refutation is a significant rise of rho from rate 10 to "
    "100 (0.014 -> 0.045 at d = 10,000, T = 10,000), which the check's docstring traces to seen tokens whose own "
    "coefficient stays tiny because cross-talk through e_x^T e_y ~ 1/sqrt(d) already predicts their output; at "
    "d = 20,000 and T = 100,000 (30 seeds) the rise is gone (0.032 -> 0.029) and rho matches F(counts) within "
    "0.03 at every rate, so the same criterion reproduces the claim",
    "OD4": "a real change at the full size, where the final error no longer resolves the rates: at d = 1000 = 10 N "
    "and T = 102,400 samples both lr 1 and lr 10 have memorised nearly every token (mean difference -0.0000, "
    "p = 0.08, 2 of 30 seeds better; lr 1 vs 0.1 still reproduced, p = 5e-16); at the fast size (d = 200, "
    "T = 8,192) lr 10 beats lr 1 (p = 7e-6, 10 of 10 seeds). The claim (faster saturation) would need the "
    "error along training, not only at T",
    "TF2": "full tier: its 20 rows (the paper's model at the sizes of the authors' README command: d = T = 256, "
    "batch 512, 1000 steps; 5 seeds) computed on one H200 with the same code (about 11 CPU-hours here), read from "
    "the store on this machine. Refuted at both scales, for a different reason: at the fast tier's d = T = 64 both "
    "of the talk's numbers miss (2 layers 0.837 [0.810, 0.864], 1 layer 0.316 [0.300, 0.333]); at the paper's "
    "sizes the 2-layer accuracy is the talk's (0.989 [0.986, 0.991] against 0.99) and only the 1-layer plateau "
    "misses (0.447 [0.435, 0.460] against 0.55 +- 0.05): a finite-size effect for 2 layers, a real difference "
    "for 1 layer (its plateau rises with size, 0.316 -> 0.447, and does not differ significantly between the "
    "data: 0.418 [0.382, 0.455] on the synthetic law at full size, difference -0.029 [-0.062, +0.004])",
    "FR1": "inconclusive at both scales for one reason: the decisive slope's interval (log m* on log(S R / d)) "
    "holds 1 but reaches just past the band [0.75, 1.25] fixed in advance; full tier (10 configurations, 8 seeds, "
    "1,500 steps) 1.029 [0.798, 1.261], fast tier (12 configurations, 3 seeds) 1.140 [0.899, 1.381]: the estimate "
    "moves toward 1 with scale and the interval's upper end misses by 0.011 instead of 0.131, while sufficiency "
    "(k >= 2), failure at the smallest k and the control (slope 0.5 rejected) hold at both; more configurations "
    "would decide (more power, not a change)",
    "FR2": "more power: the full tier's training (8 seeds, 1,500 Adam steps; fast: 3 seeds, 400) makes the boundary "
    "k* nearly constant, 0.904 to 1.020 over S (R + A_max) = 64 to 3,072 (fast: 0.989 to 1.316 over 64 to 768), so "
    "the slope of log d*(H d_h)* is 0.965 [0.913, 1.018], inside the band [0.75, 1.25] with 1 inside, and decides "
    "(on the fast tier's own first six configurations the full training gives 0.936 [0.830, 1.041], the fast "
    "tier's 0.904 [0.680, 1.128]); at the fast tier the slope test (0.839 [0.702, 0.977] on its 12 "
    "configurations) flips under fresh seeds, so by the rule fixed in advance it does not decide there",
    "OD10": "a vanishing effect at the full size, whose test sits on its threshold: at d = 50 (N/5) and "
    "T = 102,400 samples the erasing gap (final minus best error, lr 0.1 vs lr 10) is -0.0001, 23 or 24 of 40 seeds "
    "better, and its one-sided paired p-value moves across 0.05 with floating-point rounding alone: 0.062 with "
    "torch's AVX2 or AVX-512 kernels, 0.039 with its scalar kernels (ATEN_CPU_CAPABILITY=default), 0.043 on the "
    "machine of an earlier session (commit 6348936, reported reproduced), same code and seeds; the rule fixed in "
    "advance (p < 0.05) gives inconclusive on this machine's default kernels, and neither outcome is a decision. "
    "At the fast size (d = 20, T = 8,192) the gap is -0.0065, p = 4e-5, 36 of 40 seeds. The 'conservative' half "
    "holds at both sizes (full: p = 6e-28, 40 of 40)",
    "TF4": "the first step of the order is not resolved at the full size: at d = 128, T = 256 (batch 64, lr 1, "
    "4,000 steps) the W_OV^2 and W_KQ^2 probes both reach 0.5 within steps 1 to 6 (median step 2 each; W_OV^2 "
    "first in 10 of 30 seeds, W_KQ^2 first in 11, 9 ties), so its sign test decides neither way (p = 0.67 and "
    "0.5) and the rule fixed in advance gives inconclusive; at the fast size (d = T = 64, batch 32, 600 steps) "
    "W_KQ^2 comes first in 28 of 30 (median steps 20 and 6; p = 4e-7): refuted. The rest agrees at both sizes: "
    "W_KQ^2 before W_KQ^1 in 30 of 30 (at the full size W_KQ^1's probe never reaches 0.5 within 4,000 steps, "
    "while in-context accuracy reaches 0.9 at step 290 on average), and joint training is faster (layer by layer "
    "reaches accuracy 0.9 in 0 of 30 seeds at both sizes). The paper-model record (TF2's 5 runs at the paper's "
    "sizes) has W_OV^2 after W_KQ^2 in 5 of 5 (p = 0.031), but W_KQ^1's probe reaches 0.5 in none of them "
    "within 1,000 steps, which its rule calls inconclusive",
    "OD6": "different sub-checks decide: the fast tier also has fixed-rate records on the authors' model "
    "(normalised GD and Adam (0,0) vs SGD at one rate), which are refuted; the full tier runs only the authors' "
    "tuned grid, where Adam (0,0) beats SGD (on the fast sub-grid too: reproduced, p = 0.044)",
}
