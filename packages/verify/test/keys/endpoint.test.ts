import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defaultKeyEndpoint } from '../../src/index.js'

const arn = (partition: string, region: string) =>
  `arn:${partition}:elasticloadbalancing:${region}:123456789012:loadbalancer/app/web/50dc6c495c0c9188`

test('commercial regions use the public-keys.auth.elb endpoint', () => {
  assert.equal(defaultKeyEndpoint(arn('aws', 'us-east-1')), 'https://public-keys.auth.elb.us-east-1.amazonaws.com')
  assert.equal(
    defaultKeyEndpoint(arn('aws', 'ap-southeast-2')),
    'https://public-keys.auth.elb.ap-southeast-2.amazonaws.com',
  )
})

test('GovCloud regions use the S3 bucket endpoint', () => {
  for (const region of ['us-gov-west-1', 'us-gov-east-1']) {
    assert.equal(
      defaultKeyEndpoint(arn('aws-us-gov', region)),
      `https://s3-${region}.amazonaws.com/aws-elb-public-keys-prod-${region}`,
    )
  }
})

test('anything that is not an ALB ARN is a TypeError', () => {
  for (const bad of [
    '',
    'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/nlb/50dc6c495c0c9188',
    'arn:aws:s3:::bucket',
    'arn:aws:elasticloadbalancing:evil.com/x:123456789012:loadbalancer/app/web/1',
    'arn:aws:elasticloadbalancing:us-east-1:123:loadbalancer/app/web/1',
  ]) {
    assert.throws(() => defaultKeyEndpoint(bad), TypeError, bad)
  }
})
