/** Worker entry: the Hono app answers every request. */
import { app } from './app';

export default app;
