#!/usr/bin/env node
import { Cli } from 'clipanion';
import { buildCli } from './index.js';

const argv = process.argv.slice(2);
await buildCli({ argv }).runExit(argv, Cli.defaultContext);
