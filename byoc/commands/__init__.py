"""The subcommands of `byoc`, one module per command family, each exposing register(subparsers).

A command module parses arguments, runs the pre-flight checks and calls the module that owns the
resource (byoc.aws.endpoints, .training, .transform, .autoscaling, .ecr, ...), which does the
work; byoc.cli lists the modules in the order `byoc --help` shows them.

    endpoint    deploy, invoke, delete: a real-time endpoint's life
    train       a training job
    transform   a batch transform job (and the model made for it)
    autoscale   Application Auto Scaling for an endpoint variant
    ecr         hidden helpers for build_and_push.sh
    aws_options what every AWS command shares: region and profile, waiting, S3, exit codes

A new family (tuning, processing, a model registry) is one module here with register(), one
orchestration module in byoc/aws that owns the resource, and its name in byoc.cli.COMMAND_MODULES.
"""
