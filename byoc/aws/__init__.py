"""The AWS side: push the image, then deploy, train, transform and scale with SageMaker.

One concept per module. Request builders are pure functions (a dict in, a dict out) so tests
can check them without AWS; boto3 calls happen only in the functions that take a client.

    session     region, profile, credentials and account, resolved as the AWS CLI does
    errors      the failures a command reports, and the exit code of each
    names       resource names: SageMaker's formats and lengths, unique names per deploy
    s3          s3:// URIs, bucket regions, uploads
    preflight   checks that refuse bad input before anything is created
    modeldata   a model folder or model.tar.gz: checked, packed, uploaded
    waiting     boto3 waiters with a progress line
    endpoints   deploy (create or blue/green update), invoke, delete
    training    create_training_job
    transform   create_transform_job
    autoscaling Application Auto Scaling for an endpoint variant
    ecr         the repository, login and tags for build_and_push.sh
    commands    the argparse subcommands that byoc.cli registers
"""
