//! `publish-image` on the tree the humans shipped: its packer template
//! names the image `mobiledgex-v<VERSION>_uncompressed` and its debug twin
//! `…_uncompressed-dbg`, and cloudlets download from props.go's
//! `DefaultCloudletVMImagePath` (`…/artifactory/baseimages/`).

use crate::common::artifactory::ImageArtifactory;
use crate::common::{Fakes, Tree};
use crate::publish_image::{
    assert_same_image, count, make_image, qemu_img, seed_glance, with_credentials,
};

#[test]
fn publishes_the_debug_image_the_real_template_names() {
    let Some(tree) = Tree::real() else { return };
    if !qemu_img() {
        return;
    }
    let mut fakes = Fakes::new();
    let image = make_image(fakes.dir.path());
    let debug = [&image[..4096], &image[..]].concat();
    seed_glance(&fakes, "mobiledgex-v4.10.0_uncompressed", &image, None);
    seed_glance(&fakes, "mobiledgex-v4.10.0_uncompressed-dbg", &debug, None);

    // Where the real tree sends it: props.go's folder (no credentials, so the
    // dry run does not ask that Artifactory anything).
    fakes.set("ARTIFACTORY_URL", "");
    let dry = fakes.run(&tree, &["publish-image", "--dry-run"]);
    dry.assert_code(0);
    for line in [
        "ok mobiledgex-v4.10.0_uncompressed in glance",
        "destination https://artifactory.mobiledgex.net/artifactory/baseimages/mobiledgex-v4.10.0.qcow2 (base URL from vmlayer/props.go:77 DefaultCloudletVMImagePath)",
    ] {
        assert!(dry.stdout.contains(line), "{line}\n{}", dry.all());
    }

    with_credentials(&mut fakes);
    let art = ImageArtifactory::start("uploader", "image-pa55-zebra");
    let run = fakes.run(
        &tree,
        &[
            "publish-image",
            "--debug",
            "--artifactory",
            &art.base(),
            "--yes",
        ],
    );
    run.assert_code(0);
    assert_same_image(
        &art.get("baseimages/mobiledgex-v4.10.0-dbg.qcow2").unwrap(),
        &debug,
    );
    assert!(art.get("baseimages/mobiledgex-v4.10.0.qcow2").is_none());
    assert_eq!(count(&fakes.calls(), "openstack image save"), 1);
}
