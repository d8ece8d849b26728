// arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID
const ALB_ARN =
  /^arn:(aws|aws-us-gov|aws-cn):elasticloadbalancing:([a-z]{2}(?:-gov)?-[a-z]+-\d+):\d{12}:loadbalancer\/app\/[^/]+\/[^/]+$/

/**
 * The AWS public-key endpoint for the region of a load balancer ARN: the base
 * URL a verifier appends `/{kid}` to.
 *
 * Commercial regions use `https://public-keys.auth.elb.REGION.amazonaws.com`;
 * GovCloud (`us-gov-west-1`, `us-gov-east-1`) uses
 * `https://s3-REGION.amazonaws.com/aws-elb-public-keys-prod-REGION`.
 *
 * @throws {TypeError} if `signerArn` is not an Application Load Balancer ARN.
 * @example
 * ```ts
 * defaultKeyEndpoint('arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188')
 * // → 'https://public-keys.auth.elb.eu-west-1.amazonaws.com'
 * ```
 */
export function defaultKeyEndpoint(signerArn: string): string {
  const match = typeof signerArn === 'string' ? ALB_ARN.exec(signerArn) : null
  if (match === null) {
    throw new TypeError(
      'cannot derive the key endpoint: signer is not an ALB ARN ' +
        '(arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID); set keyEndpoint explicitly',
    )
  }
  const region = match[2]!
  if (region === 'us-gov-west-1' || region === 'us-gov-east-1') {
    return `https://s3-${region}.amazonaws.com/aws-elb-public-keys-prod-${region}`
  }
  return `https://public-keys.auth.elb.${region}.amazonaws.com`
}
