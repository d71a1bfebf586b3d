use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d};
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;
#[allow(deprecated)]
fn main() {
    let d = Device::ndarray();
    let n = 8;
    let x = Tensor::<3>::random([n + 1, 90, 160], Distribution::Uniform(0.0, 1.0), &d);
    let host: Vec<f32> = x.clone().into_data().try_into_vec().unwrap();
    let t = |name: &str, f: &dyn Fn() -> Vec<f32>| {
        let _ = f();
        let t0 = Instant::now();
        for _ in 0..50 { std::hint::black_box(f()); }
        println!("{name:30} {:8.1} us", t0.elapsed().as_secs_f64() * 1e6 / 50.0);
    };
    t("upload", &|| { Tensor::<3>::from_data(burn::tensor::TensorData::new(host.clone(), [n + 1, 90, 160]), &d).slice([0..1]).into_data().try_into_vec().unwrap() });
    let cur = x.clone().slice([1..n + 1]);
    let prv = x.clone().slice([0..n]);
    t("mad kernel", &|| evalverse_kernels::row_mean_absdiff(cur.clone().reshape([n, 14400]), prv.clone().reshape([n, 14400])).into_data().try_into_vec().unwrap());
    t("mean", &|| cur.clone().reshape([n, 14400]).mean_dim(1).into_data().try_into_vec().unwrap());
    t("var", &|| { let f = cur.clone().reshape([n, 14400]); let m = f.clone().mean_dim(1); (f - m).powi_scalar(2).mean_dim(1).into_data().try_into_vec().unwrap() });
    t("black", &|| cur.clone().reshape([n, 14400]).lower_equal_elem(0.12).float().mean_dim(1).into_data().try_into_vec().unwrap());
    t("pool2x2", &|| avg_pool2d(cur.clone().unsqueeze_dim::<4>(1), AvgPoolOptions::new([2, 2]).with_stride([2, 2])).into_data().try_into_vec().unwrap());
    let pooled = avg_pool2d(cur.clone().unsqueeze_dim::<4>(1), AvgPoolOptions::new([2, 2]).with_stride([2, 2]));
    let edges: Vec<f32> = (1..16).map(|k| k as f32 / 16.0).collect();
    let e = Tensor::<1>::from_floats(edges.as_slice(), &d).reshape([1, 1, 15]);
    t("hist cmp", &|| pooled.clone().reshape([n, 3600, 1]).greater_equal(e.clone()).float().mean_dim(1).into_data().try_into_vec().unwrap());
    t("adaptive pool", &|| adaptive_avg_pool2d(cur.clone().unsqueeze_dim::<4>(1), [18, 32]).into_data().try_into_vec().unwrap());
    t("avg pool 5x5", &|| avg_pool2d(cur.clone().unsqueeze_dim::<4>(1), AvgPoolOptions::new([5, 5]).with_stride([5, 5])).into_data().try_into_vec().unwrap());
}
