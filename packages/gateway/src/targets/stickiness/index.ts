/**
 * Stickiness, all of it, behind one API: a target group's `lb_cookie` /
 * `app_cookie` stickiness, used by target selection and by the proxy
 * (`target.ts`), and the `AWSALBTG` target-group stickiness of a weighted
 * `forward` action (`group.ts`). ALB's cookie names, their opaque values and
 * how they are written and read live in `cookies.ts`, used by both.
 */
export { GroupStickiness } from './group.js'
export {
  type StickinessContext,
  type StickyBalancer,
  type StickyTargetValues,
  stickyTargetValues,
  TargetStickiness,
} from './target.js'
