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
    models      CreateModel and DeleteModel: a model's life around its endpoint or job
    endpoints   deploy (create or blue/green update), invoke, delete
    training    a training job: checked, its inputs uploaded, started, followed
    transform   a transform job: the same, with the model made for it
    registry    model package groups and versions: register, approve, the version a deploy takes
    autoscaling Application Auto Scaling for an endpoint variant
    ecr         the ECR host and image patterns; the repository, login and tags for build_and_push.sh

The commands that parse arguments and call these are in byoc.commands, one module per family.
"""
