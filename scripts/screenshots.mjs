// Drives the Microsoft 365 Agents Playground's web client in headless Chromium (playwright-core,
// the browser from the distribution's packages) as an admin would, and screenshots each card.
// Started by scripts/screenshots.py, which runs the demo bot and the Playground first.
//   node scripts/screenshots.mjs <playground url> <en|nl> <output dir> <chromium path>
// Prints one JSON line: the rendered size (CSS px) of every card it took.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, '.tools', 'package.json'));
const { chromium } = require('playwright-core');

const [url, lang, outDir, executablePath] = process.argv.slice(2);
const WORDS = {
  en: {
    alertsOn: 'alerts on', list: 'who is blocked', listTitle: 'Restricted senders',
    open: 'Open', mine: 'Refresh for my view', summary: 'suspicious in',
    details: 'Show all findings', recommended: 'Run recommended steps (1–4)',
    stepsDone: '4 of 7 done or skipped', release: 'Release sender',
    released: 'Released', alertName: 'Lynne Robbins', contained: 'Contained automatically at',
  },
  nl: {
    alertsOn: 'meldingen aan', list: 'wie is geblokkeerd', listTitle: 'Geblokkeerde afzenders',
    open: 'Openen', mine: 'Vernieuwen voor mijn weergave', summary: 'verdacht in',
    details: 'Toon alle bevindingen', recommended: 'Aanbevolen stappen uitvoeren (1–4)',
    stepsDone: '4 van 7 gedaan of overgeslagen', release: 'Afzender vrijgeven',
    released: 'Vrijgegeven', alertName: 'Lynne Robbins', contained: 'Automatisch ingesloten om',
  },
}[lang];
const USER = 'Joost van den Bergh'; // the compromised scenario's compromised user
const WAIT = 45_000;

const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 2400 }, locale: lang });
const sizes = {};

const cards = () => page.locator('.ac-adaptiveCard:not(.ac-adaptiveCard .ac-adaptiveCard)');
const card = (text) => cards().filter({ hasText: text }).last();

async function say(words) {
  const box = page.locator('[data-lexical-editor="true"]');
  await box.click();
  await page.keyboard.type(words);
  await page.keyboard.press('Enter');
}

async function press(within, title) {
  const button = within.getByRole('button', { name: title, exact: true }).first();
  await button.waitFor({ timeout: WAIT });
  await button.click();
}

async function shoot(name, target) {
  await target.scrollIntoViewIfNeeded();
  await page.waitForTimeout(400); // fonts and layout settle
  const box = await target.boundingBox();
  sizes[name] = { width: Math.round(box.width), height: Math.round(box.height) };
  await target.screenshot({ path: path.join(outDir, `${name}-${lang}.png`) });
}

// A 1:1 chat's cards are drawn for its admin; a shared one says "Refresh for my view", which
// Teams does by itself (user-specific views) and the Playground does not: press it.
async function myView(target) {
  const mine = target.getByRole('button', { name: WORDS.mine, exact: true });
  if (await mine.count()) await mine.first().click();
  await waitText(target, WORDS.recommended.split(' (')[0]).catch(() => {});
}

async function waitText(target, text) {
  await target.getByText(text, { exact: false }).first().waitFor({ timeout: WAIT });
}

try {
  await page.goto(url, { waitUntil: 'networkidle' });
  await page.locator('[data-lexical-editor="true"]').waitFor({ timeout: WAIT });
  // The log panel takes room the chat would have.
  const close = page.getByRole('button', { name: /close/i }).last();
  if (await close.isVisible().catch(() => false)) await close.click().catch(() => {});
  await say(WORDS.alertsOn);
  await cards().first().waitFor({ timeout: WAIT });

  await say(WORDS.list);
  const list = card(WORDS.listTitle);
  await list.waitFor({ timeout: WAIT });
  await shoot('list', list);

  // Open Joost's case: the button in his row (the first Open below his name).
  const name = list.getByText(USER, { exact: true }).first();
  const nameBox = await name.boundingBox();
  const opens = list.getByRole('button', { name: WORDS.open, exact: true });
  let picked = null;
  for (const button of await opens.all()) {
    const box = await button.boundingBox();
    if (box && box.y > nameBox.y && (!picked || box.y < picked.y)) picked = { button, y: box.y };
  }
  await picked.button.click();
  const caseCard = () => cards().filter({ hasText: USER }).filter({ hasNotText: WORDS.listTitle }).last();
  await waitText(caseCard(), WORDS.summary);
  await myView(caseCard());
  await shoot('case', caseCard());
  await press(caseCard(), WORDS.details);
  await shoot('case-expanded', caseCard());
  await press(caseCard(), WORDS.details);

  await press(caseCard(), WORDS.recommended);
  await waitText(caseCard(), WORDS.stepsDone);
  await myView(caseCard());
  await press(caseCard(), WORDS.release);
  await waitText(caseCard(), WORDS.released);
  await shoot('released', caseCard());

  // The demo restricts one more user a little after start (Lynne, whose evidence is strong):
  // the alert lands in this chat, and the containment policy (AUTO_CONTAIN=on) contains her.
  const alert = cards().filter({ hasText: WORDS.alertName }).filter({ hasNotText: WORDS.listTitle }).last();
  await alert.waitFor({ timeout: 120_000 });
  await waitText(alert, WORDS.summary);
  await waitText(alert, WORDS.contained);
  await shoot('alert', alert);
  console.log(JSON.stringify({ lang, sizes }));
} catch (error) {
  await page.screenshot({ path: path.join(outDir, `failed-${lang}.png`), fullPage: true });
  console.error(`screenshots (${lang}) failed: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
