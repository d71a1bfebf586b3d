//! Drawing primitives and the seeded draw the generators share: a stateless random number per
//! (seed, index), and shapes blended into a luma plane with sub-pixel edges.

fn hash(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

/// A uniform number in [0, 1), the same for the same seed and index.
pub fn unit(seed: u64, k: u64) -> f64 {
    (hash(seed.wrapping_mul(1_000_003).wrapping_add(k)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Uniform numbers in [0, 1), one after another, the same sequence for the same seed.
pub fn draws(seed: u64) -> impl FnMut() -> f64 {
    let mut k = 0u64;
    move || {
        k += 1;
        unit(seed, k)
    }
}

/// The ink a shape leaves on a pixel of this level: light on dark pictures, dark on light ones.
fn ink(px: u8) -> f64 {
    if px < 128 { 225.0 } else { 30.0 }
}

/// Blend a rectangle `(left, top, width, height)` at `alpha` into a luma plane of `w`×`h`,
/// rows covered in part blended in part (so that it moves smoothly at any speed), in [`ink`].
pub fn paint_rect(ys: &mut [u8], dims: (usize, usize), rect: (f64, f64, f64, f64), alpha: f64) {
    blend_rect(ys, dims, rect, alpha, ink);
}

/// As [`paint_rect`], opaque, in one luma level whatever is under it (a solid thing, which a
/// background moving behind it does not change).
pub fn fill_rect(ys: &mut [u8], dims: (usize, usize), rect: (f64, f64, f64, f64), level: f64) {
    blend_rect(ys, dims, rect, 1.0, |_| level);
}

/// The level that stands out of a luma plane: light on a dark one, dark on a light one.
pub fn contrasting(ys: &[u8]) -> f64 {
    let mean = ys.iter().map(|&v| v as u64).sum::<u64>() as f64 / ys.len().max(1) as f64;
    if mean < 128.0 { 215.0 } else { 40.0 }
}

fn blend_rect(
    ys: &mut [u8],
    (w, h): (usize, usize),
    (x, y, rw, rh): (f64, f64, f64, f64),
    alpha: f64,
    ink: impl Fn(u8) -> f64,
) {
    let (x0, x1) = (x.max(0.0) as usize, ((x + rw).max(0.0) as usize).min(w));
    let (y0, y1) = (
        y.floor().max(0.0) as usize,
        ((y + rh).ceil().max(0.0) as usize).min(h),
    );
    for row in y0..y1 {
        let cover = ((row + 1) as f64).min(y + rh) - (row as f64).max(y);
        let a = alpha * cover.clamp(0.0, 1.0);
        if a <= 0.0 || x0 >= x1 {
            continue;
        }
        for px in &mut ys[row * w + x0..row * w + x1] {
            *px = (*px as f64 * (1.0 - a) + ink(*px) * a).round() as u8;
        }
    }
}

/// Fill an ellipse (centre, radii) of a luma plane with one level.
pub fn fill_ellipse(
    ys: &mut [u8],
    (w, h): (usize, usize),
    (cx, cy, rx, ry): (f64, f64, f64, f64),
    level: f64,
) {
    let (y0, y1) = (
        (cy - ry).floor().max(0.0) as usize,
        ((cy + ry).ceil().max(0.0) as usize).min(h),
    );
    let (x0, x1) = (
        (cx - rx).floor().max(0.0) as usize,
        ((cx + rx).ceil().max(0.0) as usize).min(w),
    );
    for row in y0..y1 {
        let dy = (row as f64 + 0.5 - cy) / ry;
        for col in x0..x1 {
            let dx = (col as f64 + 0.5 - cx) / rx;
            if dx * dx + dy * dy < 1.0 {
                ys[row * w + col] = level as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rect_covering_half_a_row_blends_half_its_ink() {
        let mut ys = vec![0u8; 8 * 4];
        paint_rect(&mut ys, (8, 4), (2.0, 1.5, 3.0, 1.0), 1.0);
        // Row 1 is covered from 1.5 to 2 (half), row 2 from 2 to 2.5 (half).
        assert_eq!(&ys[8 + 2..8 + 5], &[113, 113, 113]);
        assert_eq!(&ys[16 + 2..16 + 5], &[113, 113, 113]);
        assert!(ys[..8].iter().chain(&ys[24..]).all(|&v| v == 0));
        assert_eq!((ys[8 + 1], ys[8 + 5]), (0, 0));
    }

    #[test]
    fn shapes_outside_the_plane_draw_nothing() {
        let mut ys = vec![50u8; 8 * 4];
        paint_rect(&mut ys, (8, 4), (-20.0, -20.0, 5.0, 5.0), 1.0);
        paint_rect(&mut ys, (8, 4), (20.0, 20.0, 5.0, 5.0), 1.0);
        fill_ellipse(&mut ys, (8, 4), (-10.0, 2.0, 3.0, 3.0), 200.0);
        fill_rect(&mut ys, (8, 4), (9.0, 0.0, 3.0, 3.0), 200.0);
        assert!(ys.iter().all(|&v| v == 50));
    }
}
