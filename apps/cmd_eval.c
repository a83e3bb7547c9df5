/* cmd_eval.c - `cmad eval`: runs a list of methods on the same noise for one setting
 * (N agents, target digit c) and writes, per EVAL.md, results/<run>/metrics.json, table.md,
 * PNG grids of the first 64 samples, every image as float32 .npy, and report.html.
 * Metrics per method: acc_obj, acc_eval, terminal, seam, fd (Frechet distance of cnn-eval
 * penultimate features of the clamped images against MNIST test images of class c), nfe,
 * seconds, peak_mb; plus the real-data fd floor: the first n training images of class c
 * (not held out from cnn-eval, which trained on all 60000; a different set from the test
 * reference). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../control/metrics.h"
#include "../control/multi.h"
#include "../data/npy.h"
#include "../data/png.h"
#include "../tensor/linalg.h"
#include "../tensor/platform.h"
#include "../tensor/safetensors.h"
#include "apps.h"
#include "args.h"
#include "common.h"

#define EVAL_MAX_METHODS 8

typedef struct EvalRow {
    const char *name;
    Metrics m;
    double fd, nfe, seconds, peak_mb;
    int resumed;          /* samples taken from a partial file (--resume) */
    char resumed_rev[48]; /* the commit of the binary that drew them */
} EvalRow;

static void base64_file(StrBuf *out, const char *path)
{
    static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    FILE *f = fopen(path, "rb");
    unsigned char in[3];
    size_t k;
    if (!f) return;
    while ((k = fread(in, 1, 3, f)) > 0) {
        unsigned v =
            (unsigned)in[0] << 16 | (k > 1 ? (unsigned)in[1] << 8 : 0) | (k > 2 ? in[2] : 0);
        strbuf_printf(out, "%c%c%c%c", tb[v >> 18 & 63], tb[v >> 12 & 63],
                      k > 1 ? tb[v >> 6 & 63] : '=', k > 2 ? tb[v & 63] : '=');
    }
    fclose(f);
}

/* SVG polyline of column `col` of a loss-curve CSV (header line first). */
static void svg_curve(StrBuf *out, const char *csv, int col, const char *title)
{
    FILE *f = fopen(csv, "r");
    double ys[4096], mn = 1e300, mx = -1e300;
    int n = 0, i;
    char line[1024];
    if (!f) return;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return;
    }
    while (n < 4096 && fgets(line, sizeof line, f)) {
        char *p = line;
        int c;
        for (c = 0; c < col && p; c++) {
            p = strchr(p, ',');
            if (p) p++;
        }
        if (!p) continue;
        ys[n] = atof(p);
        if (ys[n] < mn) mn = ys[n];
        if (ys[n] > mx) mx = ys[n];
        n++;
    }
    fclose(f);
    if (n < 2) return;
    if (mx <= mn) mx = mn + 1;
    strbuf_printf(out, "<figure><svg width=\"480\" height=\"200\" viewBox=\"0 0 480 200\" "
                       "style=\"border:1px solid #ccc\">"
                       "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (i = 0; i < n; i++)
        strbuf_printf(out, "%.1f,%.1f ", 10 + 460.0 * i / (n - 1),
                      190 - 180.0 * (ys[i] - mn) / (mx - mn));
    strbuf_printf(
        out,
        "\"/><text x=\"12\" y=\"14\" font-size=\"11\">max %.4g</text><text x=\"12\" y=\"196\" "
        "font-size=\"11\">min %.4g</text>"
        "</svg><figcaption>%s (%d points)</figcaption></figure>\n",
        mx, mn, title, n);
}

/* Loads the learned controls of every agent for method cmad; sets the problem's rho, drift
 * and amortised flag from the file's metadata. */
static void load_controls(SafeFile *cf, const char *controls, int agents, CmadProblem *pr,
                          UNet *ctrl)
{
    UNetConfig cc;
    int a, j;
    char nm[128], err[512];
    if (!st_meta(cf, "config") || unet_config_parse(st_meta(cf, "config"), &cc, err, sizeof err) ||
        app_meta_number("eval", cf, "agents", 0, 0, PHI_MAX_AGENTS, 1) != agents)
        app_fail("eval", "%s: not controls for %d agents", controls, agents);
    pr->spec.rho = app_meta_number("eval", cf, "rho", 1.0, 0, 1e6, 0);
    pr->spec.drift =
        st_meta(cf, "drift") && !strcmp(st_meta(cf, "drift"), "g2") ? DRIFT_G2 : DRIFT_G;
    pr->spec.amortised = cc.num_classes > 0;
    app_check_config_fits("eval", controls, st_total_numel(cf), &cc, agents);
    for (a = 0; a < agents; a++) {
        unet_build(&ctrl[a], &cc);
        for (j = 0; j < ctrl[a].params.count; j++) {
            const ParamInfo *pi = &ctrl[a].params.info[j];
            snprintf(nm, sizeof nm, "ctrl%d.%s", a, pi->name);
            if (st_load_scalar(cf, nm, pi->ndim, pi->shape, ctrl[a].params.data + pi->offset, err,
                               sizeof err))
                app_fail("eval", "%s", err);
        }
        ctrl[a].params.trainable = 0;
        pr->ctrl[a] = &ctrl[a];
    }
}

/* The aggregator the controls were trained with (metadata "phi" and "overlap"), so that
 * every method of the run is scored through the same phi as the controls.  A file that
 * names none (written before they were recorded) means the default split.  overlap is the
 * --overlap flag (-1: not given); one that differs from the controls' is an error. */
static void controls_phi(const SafeFile *cf, const char *controls, int overlap, CmadSpec *spec)
{
    const char *m = st_meta(cf, "phi");
    spec->phi_mode = PHI_SPLIT;
    if (m && phi_mode_parse(m, &spec->phi_mode))
        app_fail("eval", "%s: unknown aggregator '%s' in its metadata", controls, m);
    spec->overlap = (int)app_meta_number("eval", cf, "overlap", 0, 0, 13, 1);
    if (overlap >= 0 && overlap != spec->overlap)
        app_fail("eval", "option --overlap %d: the controls %s were trained with overlap %d",
                 overlap, controls, spec->overlap);
}

/* ---------------------------------------------------------------- partial files
 *
 * While a method runs, the samples of its finished batches are kept in
 * <out>/<method>.part.safetensors (tensor "y" [done, 784]; metadata: the run's key, done,
 * seconds, nfe, peak_mb, git_rev), rewritten after each batch and removed once every output
 * of the run is written.  With --resume a run takes them and starts at the next batch:
 * sample j's noise comes from streams of index j, so the samples are those of an
 * uninterrupted run (when the binary draws the same bits).  The key is every setting the
 * samples depend on and the SHA-256 of every checkpoint; a partial file with another key is
 * refused. */

#define PART_KEY_MAX 2048

static void part_key(char *key, size_t cap, const char *method, const CmadSpec *spec, int target,
                     int n, int K, long seed, const RunRecord *rec)
{
    size_t used;
    int i;
    snprintf(key, cap,
             "method=%s;agents=%d;target=%d;n=%d;steps=%d;batch=%d;seed=%ld;phi=%s;overlap=%d",
             method, spec->agents, target, n, K, spec->batch, seed, phi_mode_name(spec->phi_mode),
             spec->overlap);
    for (i = 0; i < rec->nfiles; i++) {
        used = strlen(key);
        snprintf(key + used, cap - used, ";%s=%s", rec->files[i].role, rec->files[i].sha256);
    }
}

/* Takes the finished batches of a partial file into y and r; returns how many samples. */
static int part_load(const char *path, const char *key, int n, int batch, Scalar *y, EvalRow *r)
{
    char err[512];
    SafeFile *f = st_open(path, err, sizeof err);
    const char *k, *rev;
    int done, shape[2];
    if (!f) app_fail("eval", "--resume: %s", err);
    k = st_meta(f, "eval_part_key");
    if (!k || strcmp(k, key) != 0)
        app_fail("eval",
                 "%s: made by a run with other settings or checkpoints; delete it to start over",
                 path);
    done = (int)app_meta_number("eval", f, "done", -1, 1, n, 1);
    if (done < 0 || (done % batch != 0 && done != n))
        app_fail("eval", "%s: metadata done is missing or not a whole number of batches", path);
    r->seconds = app_meta_number("eval", f, "seconds", -1, 0, 1e9, 0);
    r->nfe = app_meta_number("eval", f, "nfe", -1, 0, 1e9, 0);
    r->peak_mb = app_meta_number("eval", f, "peak_mb", -1, 0, 1e9, 0);
    if (r->seconds < 0 || r->nfe < 0 || r->peak_mb < 0)
        app_fail("eval", "%s: metadata seconds, nfe or peak_mb is missing", path);
    rev = st_meta(f, "git_rev");
    snprintf(r->resumed_rev, sizeof r->resumed_rev, "%s", rev ? rev : "unknown");
    shape[0] = done;
    shape[1] = 784;
    if (st_load_scalar(f, "y", 2, shape, y, err, sizeof err)) app_fail("eval", "%s", err);
    st_close(f);
    return done;
}

static void part_save(const char *path, const char *key, int done, const Scalar *y,
                      const EvalRow *r)
{
    char err[512];
    SafeWriter *w = st_writer_new();
    int shape[2];
    shape[0] = done;
    shape[1] = 784;
    st_add(w, "y", ST_DTYPE_F32, 2, shape, y);
    st_add_meta(w, "eval_part_key", key);
    st_add_metaf(w, "done", "%d", done);
    st_add_metaf(w, "seconds", "%.3f", r->seconds);
    st_add_metaf(w, "nfe", "%.17g", r->nfe);
    st_add_metaf(w, "peak_mb", "%.1f", r->peak_mb);
    st_add_meta(w, "git_rev", app_git_rev());
    if (st_write(w, path, err, sizeof err)) app_fail("eval", "%s", err);
    st_writer_free(w);
}

/* Draws the n samples of one method into y, batch by batch, through its partial file; r
 * receives nfe, seconds (of this run and any resumed one) and peak_mb.  Returns 1 when all n
 * are drawn, 0 when it stopped because *left, the batches this run may still draw (-1: no
 * limit), came to 0; it counts *left down. */
static int eval_sample(const char *path, const char *key, int resume, int *left,
                       const CmadProblem *pr, UNet *const *cond, const MethodSpec *ms, int K, int n,
                       const int *tg, long seed, Scalar *y, EvalRow *r)
{
    const int B = pr->spec.batch;
    const char *name = method_name(ms);
    double before = 0, t0;
    int i = 0;
    FILE *probe = resume ? fopen(path, "rb") : NULL;
    r->resumed = 0;
    r->seconds = r->nfe = r->peak_mb = 0;
    if (probe) {
        fclose(probe);
        i = r->resumed = part_load(path, key, n, B, y, r);
        before = r->seconds;
        fprintf(stderr, "cmad eval: %s: resuming at sample %d of %d from %s (drawn by %s)\n", name,
                i, n, path, r->resumed_rev);
    }
    t0 = plat_now();
    for (; i < n; i += B) {
        int nb = n - i < B ? n - i : B;
        double peak;
        if (*left == 0) return 0;
        if (*left > 0) --*left;
        r->nfe =
            multi_sample(pr, cond, ms, K, nb, tg + i, (uint64_t)seed, i, y + (size_t)i * 784, NULL);
        peak = app_peak_mb();
        if (peak > r->peak_mb) r->peak_mb = peak;
        r->seconds = before + (plat_now() - t0);
        part_save(path, key, i + nb, y, r);
        app_sample_progress("eval", name, r->resumed, i + nb, n, t0);
    }
    return 1;
}

int cmd_eval(int argc, char **argv)
{
    const char *methods = "cmad,cdps,amdm,independent,prior", *controls = NULL, *curve = NULL,
               *score = "models/unet-s.safetensors", *cond = "models/unet-s-cond.safetensors",
               *obj = APP_DEFAULT_OBJ, *evalc = APP_DEFAULT_EVALC, *data = APP_DEFAULT_DATA,
               *outdir = NULL;
    int agents = 2, target = 3, n = 256, K = 500, batch = 64, threads = 0, paper = 0, rc, i,
        nrow = 0, have_cond = 0, have_ctrl = 0, overlap = -1, resume = 0, batches = 0, left;
    long seed = 0;
    CmadSpec spec;
    CmadProblem pr;
    SafeFile *cf = NULL;
    UNet su, sc, ctrl[PHI_MAX_AGENTS], *condp[PHI_MAX_AGENTS];
    Classifier co, ce;
    Mnist train, test;
    MethodSpec mspecs[EVAL_MAX_METHODS];
    EvalRow rows[EVAL_MAX_METHODS];
    RunRecord rec;
    StrBuf out = {NULL, 0, 0};
    Scalar *y, *real;
    double *freal, fd_floor;
    int *tg, nreal, nheld;
    char path[1024], err[512], list[256], key[PART_KEY_MAX], *tok;
    const Opt opts[] = {
        {"--agents", OPT_INT, &agents, "number of agents N", 1, PHI_MAX_AGENTS},
        {"--target", OPT_INT, &target, "target digit c", 0, 9},
        {"--methods", OPT_STR, &methods,
         "comma list of cmad, cdps, cdps-per-sample, amdm, independent, prior", 0, -1},
        {"--controls", OPT_STR, &controls, "controls file for cmad (from cmad control train)", 0,
         -1},
        {"--curve", OPT_STR, &curve, "training-curve CSV to plot in the report (optional)", 0, -1},
        {"--overlap", OPT_INT, &overlap,
         "rows of band overlap of the split aggregator (-1: the controls', else 0)", -1, 13},
        {"--n", OPT_INT, &n, "samples per method", 1, 1000000},
        {"--steps", OPT_INT, &K, "grid points of every sampler", 2, 100000},
        {"--batch", OPT_INT, &batch,
         "samples per batch (cdps-parity's step is a batch mean, so it depends on this)", 1, 1024},
        {"--paper", OPT_FLAG, &paper, "the reference protocol: 1024 samples as 16 batches of 64", 0,
         -1},
        {"--score", OPT_STR, &score, "unconditional score net", 0, -1},
        {"--cond-score", OPT_STR, &cond, "class-conditional score net (amdm, independent)", 0, -1},
        {"--classifier", OPT_STR, &obj, "objective classifier (mlp)", 0, -1},
        {"--eval-classifier", OPT_STR, &evalc, "evaluation classifier (cnn-eval)", 0, -1},
        {"--data", OPT_STR, &data, "MNIST folder (fd reference images)", 0, -1},
        {"--out", OPT_STR, &outdir, "output folder (default results/n<N>-c<c>)", 0, -1},
        {"--seed", OPT_LONG, &seed, "noise seed (sample j uses streams of index j)", 0, 1e18},
        {"--threads", OPT_INT, &threads, "threads (0: OpenMP default)", 0, 1024},
        {"--batches", OPT_INT, &batches,
         "stop after drawing this many batches, keeping the partial file, for --resume later "
         "(0: all)",
         0, 1000000},
        {"--resume", OPT_FLAG, &resume,
         "go on from the finished batches in <out>/<method>.part.safetensors, which every run "
         "keeps until its method is done",
         0, -1},
        {NULL, OPT_INT, NULL, NULL, 0, 0},
    };
    rc = args_parse("eval",
                    "usage: cmad eval [options]\n"
                    "  Compares methods on the same noise and writes metrics.json, table.md, grids "
                    "and report.html.",
                    opts, argc, argv);
    if (rc) return rc == 1 ? 0 : 2;
    if (paper) {
        n = 1024;
        batch = 64;
    }
    if (!outdir) {
        static char def[64];
        snprintf(def, sizeof def, "results/n%d-c%d", agents, target);
        outdir = def;
    }
    /* every method is checked before anything runs or is written */
    if (strlen(methods) >= sizeof list) app_fail("eval", "option --methods: list too long");
    snprintf(list, sizeof list, "%s", methods);
    for (tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        if (nrow == EVAL_MAX_METHODS)
            app_fail("eval", "option --methods: at most %d methods", EVAL_MAX_METHODS);
        if (method_parse(tok, &mspecs[nrow]))
            app_fail("eval", "option --methods: unknown method '%s'", tok);
        if (mspecs[nrow].method == METHOD_AMDM || mspecs[nrow].method == METHOD_INDEPENDENT)
            have_cond = 1;
        if (mspecs[nrow].method == METHOD_CMAD) have_ctrl = 1;
        nrow++;
    }
    if (nrow == 0) app_fail("eval", "option --methods: no method given");
    if (have_ctrl && !controls)
        app_fail("eval", "method cmad needs --controls FILE (from cmad control train)");
    app_start("eval", threads, (uint64_t)seed);
    run_record_init(&rec, "eval", seed);
    memset(&spec, 0, sizeof spec);
    spec.agents = agents;
    spec.batch = batch;
    spec.K = K;
    spec.lambda = 1;
    spec.rho = 1;
    spec.phi_mode = PHI_SPLIT;
    spec.overlap = overlap > 0 ? overlap : 0;
    if (have_ctrl) { /* hashed, then opened once: the aggregator now, the nets below */
        run_record_file(&rec, "controls", controls);
        cf = st_open(controls, err, sizeof err);
        if (!cf) app_fail("eval", "%s", err);
        controls_phi(cf, controls, overlap, &spec);
    }
    cmad_problem_init(&pr, &spec);
    fprintf(stderr, "cmad eval: aggregator %s, overlap %d%s\n", phi_mode_name(spec.phi_mode),
            spec.overlap, have_ctrl ? " (from the controls file)" : "");
    /* each checkpoint is hashed, loaded, and hashed again below (run_record_verify) */
    run_record_file(&rec, "score", score);
    if (cf)
        app_check_trained_with("eval", cf, controls, "score_sha256", "score", score,
                               rec.files[rec.nfiles - 1].sha256);
    app_load_unet("eval", score, &su);
    params_use_ema(&su.params);
    su.params.trainable = 0;
    run_record_file(&rec, "classifier", obj);
    if (cf)
        app_check_trained_with("eval", cf, controls, "classifier_sha256", "classifier", obj,
                               rec.files[rec.nfiles - 1].sha256);
    app_load_classifier("eval", obj, ARCH_MLP, &co);
    params_use_ema(&co.params);
    co.params.trainable = 0;
    run_record_file(&rec, "eval_classifier", evalc);
    app_load_classifier("eval", evalc, ARCH_CNN, &ce);
    params_use_ema(&ce.params);
    pr.cls = &co;
    for (i = 0; i < agents; i++) pr.score[i] = &su;
    if (have_cond) {
        run_record_file(&rec, "cond_score", cond);
        app_load_unet("eval", cond, &sc);
        if (sc.cfg.num_classes == 0)
            app_fail("eval", "%s: --cond-score wants a class-conditional net", cond);
        params_use_ema(&sc.params);
        sc.params.trainable = 0;
    }
    for (i = 0; i < agents; i++) condp[i] = have_cond ? &sc : NULL;
    if (have_ctrl) {
        load_controls(cf, controls, agents, &pr, ctrl);
        st_close(cf);
    }
    run_record_verify(&rec);
    run_record_print(&rec);
    app_load_mnist("eval", data, "train", &train);
    app_load_mnist("eval", data, "t10k", &test);
    if (plat_mkdirs(outdir)) app_fail("eval", "cannot make the output folder %s", outdir);
    /* fd reference: test images of class c; floor: the first n training images of class c */
    nreal = app_class_images(&test, target, 0, 100000, &real);
    freal = app_features(&ce, real, nreal, NULL, NULL);
    {
        Scalar *held;
        double *fh;
        nheld = app_class_images(&train, target, 0, n, &held);
        fh = app_features(&ce, held, nheld, NULL, NULL);
        fd_floor = frechet_distance(fh, nheld, freal, nreal, 128);
        free(held);
        free(fh);
    }
    fprintf(
        stderr,
        "cmad eval: N=%d c=%d, %d samples per method, K=%d; fd floor (real %d vs %d test) %.3f\n",
        agents, target, n, K, nheld, nreal, fd_floor);
    y = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)n * 784);
    tg = (int *)xmalloc(sizeof(int) * (size_t)n);
    for (i = 0; i < n; i++) tg[i] = target;
    left = batches > 0 ? batches : -1;
    for (i = 0; i < nrow; i++) {
        EvalRow *r = &rows[i];
        double *fg;
        int shape[3];
        r->name = method_name(&mspecs[i]);
        part_key(key, sizeof key, r->name, &pr.spec, target, n, K, seed, &rec);
        snprintf(path, sizeof path, "%s/%s.part.safetensors", outdir, r->name);
        if (!eval_sample(path, key, resume, &left, &pr, condp, &mspecs[i], K, n, tg, seed, y, r)) {
            fprintf(stderr,
                    "cmad eval: stopped after %d batches as --batches asked; %s keeps %s's "
                    "samples so far: the same command with --resume goes on\n",
                    batches, path, r->name);
            return 0;
        }
        metrics_compute(&pr.phi, &co, &ce, y, n, tg, &r->m);
        fg = app_features(&ce, y, n, NULL, NULL);
        r->fd = frechet_distance(fg, n, freal, nreal, 128);
        free(fg);
        fprintf(stderr,
                "cmad eval: %-16s acc_obj %.4f acc_eval %.4f terminal %.4f seam %.5f fd %.3f "
                "nfe %.0f %.1f s peak %.0f MB\n",
                r->name, r->m.acc_obj, r->m.acc_eval, r->m.terminal, r->m.seam, r->fd, r->nfe,
                r->seconds, r->peak_mb);
        snprintf(path, sizeof path, "%s/%s.png", outdir, r->name);
        if (png_write_grid(path, y, n < 64 ? n : 64, 28, 28, 8, 2, err, sizeof err))
            app_fail("eval", "%s", err);
        snprintf(path, sizeof path, "%s/%s.npy", outdir, r->name);
        shape[0] = n;
        shape[1] = shape[2] = 28;
        if (npy_write_f32(path, 3, shape, y, err, sizeof err)) app_fail("eval", "%s", err);
    }
    if (have_cond) unet_free(&sc);
    if (have_ctrl)
        for (i = 0; i < agents; i++) unet_free(&ctrl[i]);
    /* metrics.json: the settings, then the run record (command, git, date, threads, seed,
     * checkpoints with their SHA-256) */
    strbuf_printf(&out,
                  "{\"agents\": %d, \"target\": %d, \"n\": %d, \"steps\": %d, \"batch\": %d, "
                  "\"phi\": \"%s\", \"overlap\": %d, \"fd_floor\": %.6f,\n \"settings\": [\n",
                  agents, target, n, K, batch, phi_mode_name(spec.phi_mode), spec.overlap,
                  fd_floor);
    for (i = 0; i < nrow; i++)
        strbuf_printf(&out,
                      "  {\"method\": \"%s\", \"acc_obj\": %.6f, \"acc_eval\": %.6f, \"terminal\": "
                      "%.6f, \"seam\": %.6f, \"fd\": %.6f, \"nfe\": %.1f, \"seconds\": %.2f, "
                      "\"peak_mb\": %.0f, \"resumed\": %d}%s\n",
                      rows[i].name, rows[i].m.acc_obj, rows[i].m.acc_eval, rows[i].m.terminal,
                      rows[i].m.seam, rows[i].fd, rows[i].nfe, rows[i].seconds, rows[i].peak_mb,
                      rows[i].resumed, i + 1 < nrow ? "," : "");
    strbuf_printf(&out, " ],\n ");
    run_record_json(&rec, &out);
    strbuf_printf(&out, "}\n");
    snprintf(path, sizeof path, "%s/metrics.json", outdir);
    strbuf_write("eval", &out, path);
    /* table.md: one row per setting, then how to get it again */
    out.n = 0; /* the buffer again, for the next file */
    strbuf_printf(&out, "| N | c | method | acc_obj | acc_eval | terminal | seam | fd | nfe | "
                        "seconds | peak_mb |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (i = 0; i < nrow; i++)
        strbuf_printf(
            &out, "| %d | %d | %s | %.4f | %.4f | %.4f | %.5f | %.2f | %.0f | %.1f | %.0f |\n",
            agents, target, rows[i].name, rows[i].m.acc_obj, rows[i].m.acc_eval, rows[i].m.terminal,
            rows[i].m.seam, rows[i].fd, rows[i].nfe, rows[i].seconds, rows[i].peak_mb);
    strbuf_printf(&out,
                  "\nfd floor (real training images of class %d): %.2f; %d samples per method, "
                  "%d-point grid, seed %ld; aggregator %s, %d rows of overlap.\n\n",
                  target, fd_floor, n, K, seed, phi_mode_name(spec.phi_mode), spec.overlap);
    run_record_line(&rec, &out, 1);
    strbuf_printf(&out, "\n");
    for (i = 0; i < nrow; i++)
        if (rows[i].resumed)
            strbuf_printf(
                &out,
                "\n%s: samples 0-%d were drawn by an earlier run (binary %s) and taken "
                "from its partial file (--resume); seconds and peak_mb cover both runs.\n",
                rows[i].name, rows[i].resumed - 1, rows[i].resumed_rev);
    snprintf(path, sizeof path, "%s/table.md", outdir);
    strbuf_write("eval", &out, path);
    /* report.html: self-contained (grids inline as base64 PNG, curves as SVG) */
    {
        StrBuf h = {NULL, 0, 0};
        strbuf_printf(
            &h,
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            "<title>cmad-c eval N=%d c=%d</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:4px 8px}figure{display:inline-block;margin:8px}"
            "</style></head><body><h1>cmad-c: N = %d agents, target %d</h1>\n"
            "<table><tr><th>method</th><th>acc_obj</th><th>acc_eval</th><th>terminal</th>"
            "<th>seam</th><th>fd</th><th>nfe</th><th>seconds</th><th>peak_mb</th></tr>\n",
            agents, target, agents, target);
        for (i = 0; i < nrow; i++)
            strbuf_printf(
                &h,
                "<tr><td>%s</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%.5f</td><td>%.2f</"
                "td><td>%.0f</td><td>%.1f</td><td>%.0f</td></tr>\n",
                rows[i].name, rows[i].m.acc_obj, rows[i].m.acc_eval, rows[i].m.terminal,
                rows[i].m.seam, rows[i].fd, rows[i].nfe, rows[i].seconds, rows[i].peak_mb);
        out.n = 0; /* the buffer again, for the next file */
        run_record_line(&rec, &out, 0);
        strbuf_printf(
            &h,
            "</table><p>fd floor (real training images): %.2f. %d samples per method on the same "
            "noise, %d-point grid, seed %ld.</p>\n<p><code>",
            fd_floor, n, K, seed);
        strbuf_html(&h, out.s);
        strbuf_printf(&h, "</code></p>\n");
        for (i = 0; i < nrow; i++) {
            char png[1024];
            snprintf(png, sizeof png, "%s/%s.png", outdir, rows[i].name);
            strbuf_printf(&h, "<figure><img alt=\"%s\" width=\"240\" src=\"data:image/png;base64,",
                          rows[i].name);
            base64_file(&h, png);
            strbuf_printf(&h, "\"><figcaption>%s</figcaption></figure>\n", rows[i].name);
        }
        if (curve) {
            strbuf_printf(&h, "<h2>Training curves</h2>\n");
            svg_curve(&h, curve, 2, "J");
            svg_curve(&h, curve, 4, "terminal");
            svg_curve(&h, curve, 6, "batch accuracy");
        }
        strbuf_printf(&h, "</body></html>\n");
        snprintf(path, sizeof path, "%s/report.html", outdir);
        strbuf_write("eval", &h, path);
        strbuf_free(&h);
    }
    for (i = 0; i < nrow; i++) { /* every output written: the partial files have served */
        snprintf(path, sizeof path, "%s/%s.part.safetensors", outdir, rows[i].name);
        remove(path);
    }
    printf("report: %s/report.html\n", outdir);
    strbuf_free(&out);
    run_record_free(&rec);
    free(y);
    free(tg);
    free(real);
    free(freal);
    unet_free(&su);
    classifier_free(&co);
    classifier_free(&ce);
    mnist_free(&train);
    mnist_free(&test);
    return 0;
}
