#!/usr/bin/env node
import { Cli } from 'clipanion';
import { buildCli } from './index.js';

const cli = buildCli();
await cli.runExit(process.argv.slice(2), Cli.defaultContext);
